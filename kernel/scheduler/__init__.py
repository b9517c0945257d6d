"""Scheduling policies behind one interface."""

from aios.kernel.scheduler.interface import QueuedCall, SchedulerPolicy
from aios.kernel.scheduler.policies import (
    POLICIES,
    FifoPolicy,
    PriorityPolicy,
    RoundRobinPolicy,
    create_policy,
)

__all__ = [
    "POLICIES",
    "FifoPolicy",
    "PriorityPolicy",
    "QueuedCall",
    "RoundRobinPolicy",
    "SchedulerPolicy",
    "create_policy",
]
