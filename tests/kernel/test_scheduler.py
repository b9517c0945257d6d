"""Scheduling policies, driven with hand-built queued calls (no engine, no I/O)."""

from __future__ import annotations

import itertools

import pytest

from aios.kernel.errors import ConfigError
from aios.kernel.scheduler import FifoPolicy, PriorityPolicy, QueuedCall, RoundRobinPolicy, create_policy

_seq = itertools.count()


def call(pid: int, *, at: float = 0.0, priority: int = 0, engine: str = "local") -> QueuedCall:
    return QueuedCall(
        syscall_id=f"{pid}.x", pid=pid, seq=next(_seq), enqueued_at=at, priority=priority, engine=engine
    )


def drain(policy, now: float = 0.0, engine: str = "local") -> list[int]:
    out = []
    while (c := policy.pop(now, engine)) is not None:
        out.append(c.pid)
    return out


def test_fifo_serves_in_arrival_order() -> None:
    policy = FifoPolicy()
    for pid in (3, 1, 2, 1):
        policy.push(call(pid))
    assert drain(policy) == [3, 1, 2, 1]


def test_round_robin_rotates_between_processes() -> None:
    policy = RoundRobinPolicy()
    for pid in (1, 1, 1, 2, 3):
        policy.push(call(pid))
    assert drain(policy) == [1, 2, 3, 1, 1]


def test_priority_serves_highest_first_then_arrival() -> None:
    policy = PriorityPolicy(aging_per_s=0.0)
    policy.push(call(1, priority=0))
    policy.push(call(2, priority=5))
    policy.push(call(3, priority=5))
    assert drain(policy) == [2, 3, 1]


def test_priority_aging_prevents_starvation() -> None:
    policy = PriorityPolicy(aging_per_s=1.0)
    policy.push(call(1, at=0.0, priority=0))
    # a stream of fresher high-priority calls keeps arriving
    served = []
    for t in range(1, 20):
        policy.push(call(100 + t, at=float(t), priority=5))
        served.append(policy.pop(float(t), "local").pid)
    assert 1 in served, "the low-priority call starved"
    assert served.index(1) <= 6


def test_remove_takes_out_every_call_of_a_process() -> None:
    for policy in (FifoPolicy(), RoundRobinPolicy(), PriorityPolicy()):
        for pid in (1, 2, 1, 3):
            policy.push(call(pid))
        removed = policy.remove(1)
        assert [c.pid for c in removed] == [1, 1]
        assert len(policy) == 2
        assert sorted(drain(policy)) == [2, 3]


def test_pop_only_returns_calls_for_the_asked_engine() -> None:
    for policy in (FifoPolicy(), RoundRobinPolicy(), PriorityPolicy()):
        policy.push(call(1, engine="remote"))
        policy.push(call(2, engine="local"))
        assert drain(policy, engine="local") == [2]
        assert drain(policy, engine="remote") == [1]


def test_unknown_policy_is_a_config_error() -> None:
    assert create_policy("round_robin").name == "round_robin"
    with pytest.raises(ConfigError, match="unknown scheduler policy 'lottery'"):
        create_policy("lottery")
