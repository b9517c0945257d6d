"""The scheduling policies: fifo, round_robin, priority with aging, and program_fcfs."""

from __future__ import annotations

from collections.abc import Mapping

from aios.kernel.errors import ConfigError
from aios.kernel.scheduler.interface import QueuedCall, SchedulerPolicy


class FifoPolicy(SchedulerPolicy):
    """First come, first served by call arrival."""

    name = "fifo"

    def sort_key(self, call: QueuedCall, now: float, last_served: Mapping[int, int]) -> tuple[float, ...]:
        return (call.seq,)


class RoundRobinPolicy(SchedulerPolicy):
    """Processes take turns; a generation yields after `slice_tokens` tokens when others wait."""

    name = "round_robin"

    def __init__(self, *, slice_tokens: int = 32) -> None:
        self.slice_tokens = slice_tokens

    def sort_key(self, call: QueuedCall, now: float, last_served: Mapping[int, int]) -> tuple[float, ...]:
        # the process served longest ago goes first; one never served goes before all
        return (last_served.get(call.pid, -1), call.seq)


class PriorityPolicy(SchedulerPolicy):
    """Highest priority first; waiting raises a call's priority so that nothing starves."""

    name = "priority"

    def __init__(self, *, aging_per_s: float = 1.0) -> None:
        self.aging_per_s = aging_per_s

    def effective_priority(self, call: QueuedCall, now: float) -> float:
        """Base priority plus credit for time spent waiting."""
        return call.priority + self.aging_per_s * max(0.0, now - call.enqueued_at)

    def sort_key(self, call: QueuedCall, now: float, last_served: Mapping[int, int]) -> tuple[float, ...]:
        return (-self.effective_priority(call, now), call.seq)


class ProgramFcfsPolicy(SchedulerPolicy):
    """Whole agent programs first come, first served: a returning agent does not queue behind newcomers.

    Order: preempted generations, then calls whose KV cache is still in the engine, then the earliest
    program arrival, then call arrival.
    """

    name = "program_fcfs"

    def sort_key(self, call: QueuedCall, now: float, last_served: Mapping[int, int]) -> tuple[float, ...]:
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
        raise ConfigError(
            f"policy: unknown scheduler policy {name!r}; choose one of {sorted(POLICIES)}"
        ) from None
