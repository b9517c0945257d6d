"""The contract every scheduling policy implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(kw_only=True, eq=False)
class QueuedCall:
    """An LLM syscall waiting for an engine slot; policies only read these fields."""

    syscall_id: str
    pid: int
    seq: int
    """Arrival order of the call across the kernel (ties are broken by it)."""
    enqueued_at: float
    """`time.monotonic()` when the call became ready."""
    priority: int = 0
    """Higher runs first under the `priority` policy."""
    engine: str = ""
    """Name of the engine this call must run on."""
    program_arrival: float = 0.0
    """When the calling process (the agent program) started; `program_fcfs` orders by it."""
    preempted: bool = False
    """A generation paused by the scheduler, waiting to resume."""
    kv_resident: bool = False
    """The engine still holds this process's KV cache (pinned or cached), so it resumes with no prefill."""
    payload: object = field(default=None, repr=False)
    """Whatever the dispatcher needs to run the call; opaque to policies."""


class SchedulerPolicy(ABC):
    """Orders ready LLM syscalls.

    The kernel's dispatcher calls `push` when a call becomes ready, `pop` whenever an engine has a free slot
    (passing that engine's name), and `remove` when a process is killed. Policies do no I/O.
    """

    name: str
    slice_tokens: int | None = None
    """Generated tokens after which a running generation yields to waiting calls (None: never)."""

    @abstractmethod
    def push(self, call: QueuedCall) -> None:
        """Add a ready call."""

    @abstractmethod
    def pop(self, now: float, engine: str) -> QueuedCall | None:
        """Take the next call for `engine`, or None when none waits for it."""

    @abstractmethod
    def remove(self, pid: int) -> list[QueuedCall]:
        """Take every queued call of `pid` out of the queue and return them."""

    @abstractmethod
    def __len__(self) -> int: ...
