"""What one planning step decided: plain data, applied by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field

from aios.kernel.scheduler.interface import QueuedCall


@dataclass(frozen=True, kw_only=True)
class Run:
    """Run this call on its engine for at most `budget_tokens` more tokens (None: to the end)."""

    call: QueuedCall
    budget_tokens: int | None


@dataclass(kw_only=True)
class SchedulePlan:
    start: list[Run] = field(default_factory=list)
    """Waiting calls (new, or preempted earlier) that get an engine slot now."""
    resume: list[Run] = field(default_factory=list)
    """Calls whose slice ended and that keep their slot for another one: nobody better waits."""
    preempt: list[QueuedCall] = field(default_factory=list)
    """Calls whose slice ended and that give their slot up: their generation waits in the engine."""
    wait_for_kv: list[QueuedCall] = field(default_factory=list)
    """Calls next in line that wait because their engine has no KV room until running calls end."""

    @property
    def is_empty(self) -> bool:
        return not (self.start or self.resume or self.preempt or self.wait_for_kv)
