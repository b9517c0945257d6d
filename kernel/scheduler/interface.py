"""What the scheduler plans over: queued LLM calls, and the policies that order them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(kw_only=True, eq=False)
class QueuedCall:
    """An LLM syscall waiting for (or holding) an engine slot; policies and the scheduler read only these
    fields."""

    syscall_id: str
    pid: int
    seq: int
    """Arrival order of the call across the kernel (ties are broken by it)."""
    enqueued_at: float
    """`time.monotonic()` when the call became ready."""
    engine: str
    """Name of the engine this call must run on."""
    priority: int = 0
    """Higher runs first under the `priority` policy."""
    program_arrival: float = 0.0
    """When the calling process (the agent program) started; `program_fcfs` orders by it."""
    preempted: bool = False
    """A generation paused by the scheduler, waiting to continue."""
    kv_resident: bool = False
    """The engine still holds this process's KV cache (pinned or cached), so it resumes with no prefill."""
    background: bool = False
    """Kernel housekeeping (the memory pager): runs when no other call waits, or once it has aged."""
    cells_needed: int = 0
    """KV cells the call holds once it has generated all it may (0: the engine keeps no shared pool)."""
    payload: object = field(default=None, repr=False)
    """Whatever the dispatcher needs to run the call; opaque to the scheduler."""


class SchedulerPolicy(ABC):
    """Orders waiting LLM calls. Pure: the scheduler calls `sort_key` at every planning step.

    `last_served` maps a pid to the scheduler's tick when that process last got an engine slot (absent:
    never), for policies that take turns.
    """

    name: str
    slice_tokens: int | None = None
    """Generated tokens after which a running generation yields to waiting calls (None: never)."""

    @abstractmethod
    def sort_key(self, call: QueuedCall, now: float, last_served: Mapping[int, int]) -> tuple[float, ...]:
        """The call's place in line at time `now`; the smallest runs first."""
