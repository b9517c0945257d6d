"""Scheduling policies behind one interface."""

from aios.kernel.scheduler.interface import QueuedCall, SchedulerPolicy
from aios.kernel.scheduler.policies import (
    POLICIES,
    FifoPolicy,
    PriorityPolicy,
    ProgramFcfsPolicy,
    RoundRobinPolicy,
    create_policy,
)

__all__ = [
    "POLICIES",
    "FifoPolicy",
    "PriorityPolicy",
    "ProgramFcfsPolicy",
    "QueuedCall",
    "RoundRobinPolicy",
    "SchedulerPolicy",
    "create_policy",
]
