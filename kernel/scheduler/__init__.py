"""Scheduling: the policies that order LLM calls and the one scheduler that plans engine slots."""

from aios.kernel.scheduler.interface import QueuedCall, SchedulerPolicy
from aios.kernel.scheduler.plan import Run, SchedulePlan
from aios.kernel.scheduler.policies import (
    POLICIES,
    FifoPolicy,
    PriorityPolicy,
    ProgramFcfsPolicy,
    RoundRobinPolicy,
    create_policy,
)
from aios.kernel.scheduler.scheduler import Scheduler

__all__ = [
    "POLICIES",
    "FifoPolicy",
    "PriorityPolicy",
    "ProgramFcfsPolicy",
    "QueuedCall",
    "RoundRobinPolicy",
    "Run",
    "SchedulePlan",
    "Scheduler",
    "SchedulerPolicy",
    "create_policy",
]
