"""The contract between the kernel and an LLM engine."""

from __future__ import annotations

from abc import ABC, abstractmethod

from aios.kernel.syscalls import LLMResult, LLMSyscall
from pydantic import BaseModel


class EngineInfo(BaseModel):
    """What `aios models` and `aios doctor` show about an engine."""

    name: str
    kind: str
    model: str
    max_concurrency: int
    detail: str = ""


class Engine(ABC):
    """Serves LLM syscalls; the kernel's dispatcher calls `generate` once per scheduled call.

    The dispatcher admits at most `max_concurrency` calls at once; the engine batches those it holds.
    `release` is called when a process ends so the engine can free what it kept for it.
    """

    name: str
    max_concurrency: int

    @abstractmethod
    async def generate(self, request: LLMSyscall, *, owner: int) -> LLMResult:
        """Run one completion for process `owner`; cancelling the awaiting task frees its slot."""

    async def release(self, owner: int) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Forget what was kept for `owner` (its KV cache, its slot)."""

    @abstractmethod
    def info(self) -> EngineInfo:
        """Describe the engine for humans."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background work and free resources."""
