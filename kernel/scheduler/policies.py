"""The scheduling policies: fifo, round_robin and priority with aging."""

from __future__ import annotations

from abc import abstractmethod
from collections import OrderedDict, deque

from aios.kernel.scheduler.interface import QueuedCall, SchedulerPolicy


class FifoPolicy(SchedulerPolicy):
    """First come, first served by call arrival."""

    name = "fifo"

    def __init__(self) -> None:
        self._queue: deque[QueuedCall] = deque()

    def push(self, call: QueuedCall) -> None:
        self._queue.append(call)

    def pop(self, now: float, engine: str) -> QueuedCall | None:
        for call in self._queue:
            if call.engine == engine:
                self._queue.remove(call)
                return call
        return None

    def remove(self, pid: int) -> list[QueuedCall]:
        removed = [c for c in self._queue if c.pid == pid]
        self._queue = deque(c for c in self._queue if c.pid != pid)
        return removed

    def __len__(self) -> int:
        return len(self._queue)


class RoundRobinPolicy(SchedulerPolicy):
    """Serves processes in turn; a generation yields after `slice_tokens` tokens when others wait."""

    name = "round_robin"

    def __init__(self, *, slice_tokens: int = 32) -> None:
        self.slice_tokens = slice_tokens
        self._pid_to_queue: OrderedDict[int, deque[QueuedCall]] = OrderedDict()

    def push(self, call: QueuedCall) -> None:
        self._pid_to_queue.setdefault(call.pid, deque()).append(call)

    def pop(self, now: float, engine: str) -> QueuedCall | None:
        for pid, queue in self._pid_to_queue.items():
            call = next((c for c in queue if c.engine == engine), None)
            if call is None:
                continue
            queue.remove(call)
            # the served process goes to the back of the rotation
            del self._pid_to_queue[pid]
            if queue:
                self._pid_to_queue[pid] = queue
            return call
        return None

    def remove(self, pid: int) -> list[QueuedCall]:
        return list(self._pid_to_queue.pop(pid, ()))

    def __len__(self) -> int:
        return sum(len(q) for q in self._pid_to_queue.values())


class _OrderedPolicy(SchedulerPolicy):
    """Keeps calls in a list and pops the one with the smallest `order` key (queues here are short)."""

    def __init__(self) -> None:
        self._calls: list[QueuedCall] = []

    @abstractmethod
    def order(self, call: QueuedCall, now: float) -> tuple[float, ...]:
        """Sort key of a waiting call at time `now`; the smallest runs first."""

    def push(self, call: QueuedCall) -> None:
        self._calls.append(call)

    def pop(self, now: float, engine: str) -> QueuedCall | None:
        candidates = [c for c in self._calls if c.engine == engine]
        if not candidates:
            return None
        best = min(candidates, key=lambda c: self.order(c, now))
        self._calls.remove(best)
        return best

    def remove(self, pid: int) -> list[QueuedCall]:
        removed = [c for c in self._calls if c.pid == pid]
        self._calls = [c for c in self._calls if c.pid != pid]
        return removed

    def __len__(self) -> int:
        return len(self._calls)


class PriorityPolicy(_OrderedPolicy):
    """Highest priority first; waiting raises a call's priority so that nothing starves."""

    name = "priority"

    def __init__(self, *, aging_per_s: float = 1.0) -> None:
        super().__init__()
        self.aging_per_s = aging_per_s

    def effective_priority(self, call: QueuedCall, now: float) -> float:
        """Base priority plus credit for time spent waiting."""
        return call.priority + self.aging_per_s * max(0.0, now - call.enqueued_at)

    def order(self, call: QueuedCall, now: float) -> tuple[float, ...]:
        return (-self.effective_priority(call, now), call.seq)


class ProgramFcfsPolicy(_OrderedPolicy):
    """Whole agent programs first come, first served: a returning agent does not queue behind newcomers.

    Order: preempted generations, then calls whose KV cache is still in the engine, then the earliest
    program arrival, then call arrival.
    """

    name = "program_fcfs"

    def order(self, call: QueuedCall, now: float) -> tuple[float, ...]:
        return (not call.preempted, not call.kv_resident, call.program_arrival, call.seq)


POLICIES: dict[str, type[SchedulerPolicy]] = {
    p.name: p for p in (FifoPolicy, RoundRobinPolicy, PriorityPolicy, ProgramFcfsPolicy)
}


def create_policy(name: str, *, slice_tokens: int = 32) -> SchedulerPolicy:
    """Build a policy by its configured name."""
    if name == RoundRobinPolicy.name:
        return RoundRobinPolicy(slice_tokens=slice_tokens)
    try:
        return POLICIES[name]()
    except KeyError:
        from aios.kernel.errors import ConfigError

        raise ConfigError(
            f"policy: unknown scheduler policy {name!r}; choose one of {sorted(POLICIES)}"
        ) from None
