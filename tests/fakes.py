"""The test doubles every unit test shares: one fake engine, and a way to wait on kernel events with a
deadline (never on the clock). The real engine is tested in tests/kernel; an agent alone runs under the
SDK's own kit, `aios.sdk.testing`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aios.kernel.contracts import KernelAPI
from aios.kernel.engines.interface import Engine, EngineCapacity, EngineInfo, PreparedCall, Yielded
from aios.kernel.events import KernelEvent
from aios.kernel.kv_types import KVDecision
from aios.kernel.syscalls import LLMResult, LLMSyscall, ToolCall, Usage

T = TypeVar("T")

DEADLINE_S = 30.0
"""Longest any test waits for something to happen before it fails with what it saw."""


async def _ready() -> None:
    return None


class FakeEngine(Engine):
    """The engine contract without a model.

    Replies: while tools may be called, the queued `calls` are made one by one (`repeat` makes the last
    again and again, a model stuck on one idea); otherwise `answer`, or `echo: <last message>`.
    Gating: with `gated`, every generation waits for `gate` (so a test can hold calls in the engine).
    Slices: each reply is `tokens` tokens long; with a budget below that, `run` yields (a token per step).
    Everything it was asked is recorded.
    """

    def __init__(
        self,
        name: str = "local",
        *,
        max_running: int = 1,
        context_tokens: int = 4096,
        kv_cells: int | None = None,
        calls: Iterable[tuple[str, dict[str, Any]]] = (),
        answer: str | None = None,
        repeat: bool = False,
        gated: bool = False,
        tokens: int = 2,
        settle: Callable[[], Awaitable[None]] = _ready,
    ) -> None:
        self.name = name
        self._capacity = EngineCapacity(
            max_running=max_running, context_tokens=context_tokens, kv_cells=kv_cells
        )
        self.calls = list(calls)
        self.answer = answer
        self.repeat = repeat
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.tokens = tokens
        self.settle = settle
        """Awaited before a plain-text reply, like a model thinking (a test can watch what the process
        holds meanwhile)."""
        self.requests: list[LLMSyscall] = []
        self.started: list[int] = []
        """Owners whose calls began running, in order (a continued slice is not a new start)."""
        self.cancelled: list[int] = []
        self.released: list[int] = []
        self.parked: list[tuple[int, KVDecision]] = []
        self.steps: list[int] = []
        """Owner of each token generated, in order: how the scheduler interleaved the calls."""
        self._started_event = asyncio.Event()

    def capacity(self) -> EngineCapacity:
        return self._capacity

    async def prepare(
        self, request: LLMSyscall, *, owner: int, program_arrival: float, scope: str | None = None
    ) -> PreparedCall:
        prompt = len(request.messages[-1].content)
        return PreparedCall(
            owner=owner,
            request=request,
            prompt_tokens=prompt,
            max_new_tokens=min(request.max_tokens, self.tokens),
            handle={"generated": 0},
        )

    async def run(self, call: PreparedCall, *, budget_tokens: int | None = None) -> LLMResult | Yielded:
        state = call.handle
        assert isinstance(state, dict)
        if state["generated"] == 0:
            self.started.append(call.owner)
            self.requests.append(call.request)
            self._started_event.set()
        try:
            await self.gate.wait()
            budget = budget_tokens if budget_tokens is not None else self.tokens
            for _ in range(min(budget, self.tokens - state["generated"])):
                await asyncio.sleep(0)  # one step: others may run in between
                self.steps.append(call.owner)
                state["generated"] += 1
            if state["generated"] < self.tokens:
                return Yielded(generated_tokens=state["generated"])
            return await self._reply(call)
        except asyncio.CancelledError:
            self.cancelled.append(call.owner)
            raise

    async def _reply(self, call: PreparedCall) -> LLMResult:
        request = call.request
        usage = Usage(
            prompt_tokens=call.prompt_tokens,
            completion_tokens=self.tokens,
            prefilled_tokens=call.prompt_tokens,
        )
        if request.tools and request.tool_choice != "none" and self.calls:
            name, arguments = self.calls[0] if self.repeat and len(self.calls) == 1 else self.calls.pop(0)
            tool_call = ToolCall(id=f"c{len(self.requests)}", name=name, arguments=arguments)
            return LLMResult(tool_calls=(tool_call,), finish_reason="tool_calls", usage=usage, model="fake")
        await self.settle()
        content = self.answer if self.answer is not None else f"echo: {request.messages[-1].content}"
        return LLMResult(content=content, finish_reason="stop", usage=usage, model="fake")

    async def wait_started(self, count: int) -> None:
        """Until `count` calls have begun running (fails after the deadline)."""
        async with asyncio.timeout(DEADLINE_S):
            while len(self.started) < count:
                self._started_event.clear()
                await self._started_event.wait()

    async def park(self, owner: int, decision: KVDecision) -> None:
        self.parked.append((owner, decision))

    async def release(self, owner: int) -> None:
        self.released.append(owner)

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name, kind="test", model="fake", max_concurrency=self._capacity.max_running
        )


class EventLog:
    """Every event of a kernel from now on, and `wait` for the ones a test needs (with a deadline)."""

    def __init__(self, kernel: KernelAPI) -> None:
        self.events: list[KernelEvent] = []
        self._changed = asyncio.Event()
        self.close = kernel.subscribe(self._add)

    def _add(self, event: KernelEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def matching(self, predicate: Callable[[KernelEvent], bool]) -> list[KernelEvent]:
        return [e for e in self.events if predicate(e)]

    async def wait(self, predicate: Callable[[KernelEvent], bool], *, count: int = 1) -> list[KernelEvent]:
        """Until `count` events match; fails after `DEADLINE_S` listing what was seen."""
        try:
            async with asyncio.timeout(DEADLINE_S):
                while len(found := self.matching(predicate)) < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            seen = [(e.kind, e.pid, e.syscall, e.target, e.status) for e in self.events]
            raise AssertionError(f"waited {DEADLINE_S}s for {count} matching events; saw {seen}") from None
        return found


def kind(name: str, *, pid: int | None = None, syscall: str | None = None) -> Callable[[KernelEvent], bool]:
    """A predicate on events: of this kind (and pid, and syscall kind)."""
    return lambda e: (
        e.kind == name and (pid is None or e.pid == pid) and (syscall is None or e.syscall == syscall)
    )


async def until(condition: Callable[[], T], what: str) -> T:
    """Until `condition()` returns something truthy (returned), checked as the event loop turns; fails
    after the deadline. For states no event announces (a subprocess has started, a file was written);
    prefer `EventLog.wait` where one does."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not (value := condition()):
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"waited {DEADLINE_S}s for {what}") from None
    return value
