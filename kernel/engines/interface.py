"""The contract between the kernel and an LLM engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from aios.kernel.syscalls import LLMResult, LLMSyscall

if TYPE_CHECKING:
    from aios.kernel.engines.kv_cache import KVEntry
    from aios.kernel.kv_policy import Calibration


class EngineInfo(BaseModel):
    """What `aios models` and `aios doctor` show about an engine."""

    name: str
    kind: str
    model: str
    max_concurrency: int
    detail: str = ""


class KVDecision(BaseModel):
    """What the kernel decided for a process's KV cache when it paused for a tool call."""

    action: Literal["pin", "swap", "drop", "keep"]
    """pin: hold the cells for `ttl_s`; swap: copy to host memory now; drop: free now; keep: plain cache."""
    ttl_s: float = 0.0
    evict_to_host: bool = False
    """If the cells must be reclaimed later, swap them to host memory instead of dropping them."""
    tool: str | None = None
    predicted_gap_s: float | None = None
    """Expected time until the process's next LLM call (remote engines turn it into cache hints)."""
    program_id: int | None = None


class Engine(ABC):
    """Serves LLM syscalls; the kernel's dispatcher calls `generate` once per scheduled call.

    The dispatcher admits at most `max_concurrency` calls at once; the engine batches those it holds.
    `release` is called when a process ends so the engine can free what it kept for it.
    """

    name: str
    max_concurrency: int
    waiting_hint: int = 0
    """Calls the kernel holds back for this engine (set by the kernel; sliced generations yield to them)."""
    calibration: Calibration | None = None
    """Measured costs (prefill and swap rates) when the engine keeps a local KV cache."""

    @abstractmethod
    async def generate(
        self,
        request: LLMSyscall,
        *,
        owner: int,
        program_arrival: float = 0.0,
        slice_tokens: int | None = None,
        resume: object | None = None,
    ) -> LLMResult:
        """Run one completion for process `owner`; cancelling the awaiting task frees its slot.

        With `slice_tokens` an engine that can preempt may raise GenerationPreempted once that many tokens
        are generated while `waiting_hint` is positive; calling again with `resume=error.handle` continues
        the same generation exactly.
        """

    async def park(self, owner: int, decision: KVDecision) -> None:  # noqa: B027 - optional hook
        """The owner went off to a tool call: keep, pin, swap or drop what the engine holds for it."""

    async def release(self, owner: int) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Forget what was kept for `owner` (its KV cache, its slot)."""

    def kv_entries(self) -> list[KVEntry]:
        """What the engine holds per process (empty for engines without a local KV cache)."""
        return []

    @abstractmethod
    def info(self) -> EngineInfo:
        """Describe the engine for humans."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background work and free resources."""
