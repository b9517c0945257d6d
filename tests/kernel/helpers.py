"""Test doubles for unit tests of the kernel's own mechanics (the real engine is tested elsewhere)."""

from __future__ import annotations

import asyncio

from aios.kernel.engines.interface import Engine, EngineInfo
from aios.kernel.syscalls import LLMResult, LLMSyscall, Usage


class GatedEngine(Engine):
    """Holds every generation until `gate` is set; records what it served and what was released."""

    def __init__(self, name: str = "local", max_concurrency: int = 1) -> None:
        self.name = name
        self.max_concurrency = max_concurrency
        self.gate = asyncio.Event()
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.released: list[int] = []

    async def generate(
        self,
        request: LLMSyscall,
        *,
        owner: int,
        program_arrival: float = 0.0,
        slice_tokens: int | None = None,
        resume: object | None = None,
    ) -> LLMResult:
        self.started.append(owner)
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(owner)
            raise
        text = request.messages[-1].content
        return LLMResult(
            content=f"echo: {text}",
            finish_reason="stop",
            usage=Usage(prompt_tokens=len(text), completion_tokens=2, prefilled_tokens=len(text)),
            model="gated",
        )

    async def release(self, owner: int) -> None:
        self.released.append(owner)

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, kind="test", model="gated", max_concurrency=self.max_concurrency)
