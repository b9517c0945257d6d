"""The contract between the kernel and an LLM engine.

The kernel's scheduler decides which calls run; an engine only executes what it is given. Per call:

1. `prepare` (when the call is queued): render and count the prompt, so the scheduler knows the call's
   footprint before it admits it;
2. `run` (when the scheduler starts or continues it): with a token budget an engine that can pause
   returns `Yielded` once the budget is spent, keeping the generation's state; `run` again continues it
   exactly where it stopped;
3. cancelling the task awaiting `run` abandons the call.

`park` and `release` carry the KV lifecycle: a process went off to a tool call, or ended.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from aios.kernel.kv_types import Calibration, KVDecision, KVEntry
from aios.kernel.syscalls import LLMResult, LLMSyscall


class EngineInfo(BaseModel):
    """What `aios models` and `aios doctor` show about an engine."""

    name: str
    kind: str
    model: str
    max_concurrency: int
    detail: str = ""


class EngineCapacity(BaseModel):
    """The limits the scheduler plans within; fixed for the engine's lifetime."""

    model_config = ConfigDict(frozen=True)

    max_running: int
    """Generations the engine advances together."""
    context_tokens: int
    """Most tokens (prompt plus output) one sequence may hold."""
    kv_cells: int | None = None
    """KV cells shared by every sequence; None when the engine keeps no pool the kernel must share out."""


@dataclass(eq=False, kw_only=True)
class PreparedCall:
    """A call the engine has rendered and counted; the scheduler reads the numbers, the engine the handle."""

    owner: int
    request: LLMSyscall
    prompt_tokens: int
    """Tokens of the rendered prompt (0 when the engine cannot count them before running)."""
    max_new_tokens: int
    """Most tokens the call may generate (the request's max_tokens, cut to what the context leaves)."""
    handle: object = field(default=None, repr=False)
    """Engine-private state (a local generation, kept across yields)."""
    offload_when_evicted: bool = False
    """If the call's cache must give up its cells before the kernel decides about it (the call just
    ended), copy it to host memory rather than drop it (the KV policy's choice)."""
    on_text: Callable[[str], None] | None = field(default=None, repr=False)
    """Told each new piece of output text as it is generated, on the caller's event loop (engines that
    cannot stream never call it)."""

    @property
    def cells_needed(self) -> int:
        """KV cells the call holds once it has generated everything it may."""
        return self.prompt_tokens + self.max_new_tokens


@dataclass(frozen=True, kw_only=True)
class Yielded:
    """`run` spent its token budget: the generation waits in the engine, to be continued by `run`."""

    generated_tokens: int


class Engine(ABC):
    """Serves LLM syscalls that the kernel's scheduler has admitted (see the module docstring)."""

    name: str
    calibration: Calibration | None = None
    """Measured costs (prefill and swap rates) when the engine keeps a local KV cache."""

    @abstractmethod
    def capacity(self) -> EngineCapacity:
        """How many calls may run at once and how much KV they may hold."""

    async def prepare(
        self, request: LLMSyscall, *, owner: int, program_arrival: float, scope: str | None = None
    ) -> PreparedCall:
        """Count a call before it is queued (`scope`: whose call it is, for what may be shared between
        calls); engines that cannot count report only its output budget."""
        return PreparedCall(owner=owner, request=request, prompt_tokens=0, max_new_tokens=request.max_tokens)

    @abstractmethod
    async def run(self, call: PreparedCall, *, budget_tokens: int | None = None) -> LLMResult | Yielded:
        """Start or continue a prepared call; engines that cannot pause ignore `budget_tokens`."""

    async def park(self, owner: int, decision: KVDecision) -> None:  # noqa: B027 - optional hook
        """The owner went off to a tool call: keep, pin, swap or drop what the engine holds for it."""

    async def release(self, owner: int) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Forget what was kept for `owner` (its KV cache, paused generations)."""

    def cannot_see(self) -> str | None:
        """Why its model cannot read images (the kernel then refuses calls with images); None if it can."""
        return "this engine reads text only"

    def kv_entries(self) -> list[KVEntry]:
        """What the engine holds per process (empty for engines without a local KV cache)."""
        return []

    @abstractmethod
    def info(self) -> EngineInfo:
        """Describe the engine for humans."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background work and free resources."""
