"""A stand-in engine for agent tests that exercise the loop around the model, not the model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aios.kernel.engines.interface import Engine, EngineInfo
from aios.kernel.syscalls import LLMResult, LLMSyscall, ToolCall, Usage


async def _ready() -> None:
    return None


class ScriptedEngine(Engine):
    """Makes the given tool calls in order while tools may be called, then answers in plain text.

    With `repeat`, the last call is made again and again (a model stuck on one idea).
    """

    name = "local"
    max_concurrency = 1

    def __init__(
        self,
        calls: list[tuple[str, dict[str, Any]]],
        *,
        answer: str = "done",
        repeat: bool = False,
        settle: Callable[[], Awaitable[None]] = _ready,
    ) -> None:
        self.calls = list(calls)
        self.answer = answer
        self.repeat = repeat
        self.settle = settle
        """Awaited before the answer, like a model thinking (lets a test watch what the process holds)."""
        self.requests: list[LLMSyscall] = []

    async def generate(
        self,
        request: LLMSyscall,
        *,
        owner: int,
        program_arrival: float = 0.0,
        slice_tokens: int | None = None,
        resume: object | None = None,
    ) -> LLMResult:
        self.requests.append(request)
        usage = Usage(prompt_tokens=10, completion_tokens=5, prefilled_tokens=10)
        if request.tool_choice == "none" or not self.calls:
            await self.settle()
            return LLMResult(content=self.answer, finish_reason="stop", usage=usage, model="scripted")
        name, arguments = self.calls[0] if self.repeat and len(self.calls) == 1 else self.calls.pop(0)
        call = ToolCall(id=f"c{len(self.requests)}", name=name, arguments=arguments)
        return LLMResult(tool_calls=(call,), finish_reason="tool_calls", usage=usage, model="scripted")

    def info(self) -> EngineInfo:
        return EngineInfo(name="local", kind="test", model="scripted", max_concurrency=1)
