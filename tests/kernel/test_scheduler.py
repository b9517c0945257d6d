"""The scheduler's plans, from hand-built calls and capacities: no engine, no event loop, no clock."""

from __future__ import annotations

import itertools

import pytest

from aios.kernel.engines.interface import EngineCapacity
from aios.kernel.errors import ConfigError
from aios.kernel.scheduler import (
    FifoPolicy,
    PriorityPolicy,
    ProgramFcfsPolicy,
    QueuedCall,
    RoundRobinPolicy,
    SchedulePlan,
    Scheduler,
    SchedulerPolicy,
    create_policy,
)

_seq = itertools.count()


def call(
    pid: int,
    *,
    at: float = 0.0,
    priority: int = 0,
    engine: str = "local",
    cells: int = 0,
    background: bool = False,
    arrival: float = 0.0,
    resident: bool = False,
) -> QueuedCall:
    return QueuedCall(
        syscall_id=f"{pid}.{next(_seq)}",
        pid=pid,
        seq=next(_seq),
        enqueued_at=at,
        engine=engine,
        priority=priority,
        cells_needed=cells,
        background=background,
        program_arrival=arrival,
        kv_resident=resident,
    )


def scheduler(
    policy: SchedulerPolicy, *, slots: int = 1, cells: int | None = None, aging_s: float = 30.0
) -> Scheduler:
    s = Scheduler(policy, background_aging_s=aging_s)
    s.add_engine("local", EngineCapacity(max_running=slots, context_tokens=4096, kv_cells=cells))
    s.add_engine("remote", EngineCapacity(max_running=slots, context_tokens=4096))
    return s


def started(plan: SchedulePlan) -> list[int]:
    return [r.call.pid for r in plan.start]


def serve_all(s: Scheduler, now: float = 0.0) -> list[int]:
    """Run every queued call to its end, one plan at a time; returns the pids in start order."""
    order: list[int] = []
    while True:
        plan = s.schedule(now)
        if not plan.start:
            return order
        for run in plan.start:
            order.append(run.call.pid)
            s.on_finish(run.call)


def test_fifo_starts_calls_in_arrival_order_as_slots_free() -> None:
    s = scheduler(FifoPolicy())
    for pid in (3, 1, 2, 1):
        s.submit(call(pid))
    assert serve_all(s) == [3, 1, 2, 1]


def test_a_plan_fills_every_free_slot_and_no_more() -> None:
    s = scheduler(FifoPolicy(), slots=2)
    calls = [call(pid) for pid in (1, 2, 3)]
    for c in calls:
        s.submit(c)
    assert started(s.schedule(0.0)) == [1, 2]
    assert s.schedule(0.0).is_empty  # both slots are held
    s.on_finish(calls[0])
    assert started(s.schedule(0.0)) == [3]


def test_round_robin_serves_the_process_served_longest_ago() -> None:
    s = scheduler(RoundRobinPolicy())
    for pid in (1, 1, 1, 2, 3):
        s.submit(call(pid))
    assert serve_all(s) == [1, 2, 3, 1, 1]


def test_a_spent_slice_is_preempted_when_another_process_waits_and_continued_when_none_does() -> None:
    s = scheduler(RoundRobinPolicy(slice_tokens=4))
    first, second = call(1), call(2)
    s.submit(first)
    plan = s.schedule(0.0)
    assert [(r.call.pid, r.budget_tokens) for r in plan.start] == [(1, 4)]
    s.on_yield(first)
    plan = s.schedule(0.0)  # alone: it keeps the slot
    assert [r.call.pid for r in plan.resume] == [1] and not plan.preempt
    s.submit(second)
    s.on_yield(first)
    plan = s.schedule(0.0)
    assert plan.preempt == [first] and started(plan) == [2]
    assert first.preempted and s.waiting() == [first]
    s.on_yield(second)
    plan = s.schedule(0.0)  # the preempted call's turn; the other is preempted in its place
    assert started(plan) == [1] and plan.preempt == [second]


def test_priority_serves_highest_first_then_arrival() -> None:
    s = scheduler(PriorityPolicy(aging_per_s=0.0))
    for pid, priority in ((1, 0), (2, 5), (3, 5)):
        s.submit(call(pid, priority=priority))
    assert serve_all(s) == [2, 3, 1]


def test_priority_aging_prevents_starvation() -> None:
    s = scheduler(PriorityPolicy(aging_per_s=1.0))
    s.submit(call(1, at=0.0, priority=0))
    served = []
    for t in range(1, 20):  # a stream of fresher high-priority calls keeps arriving
        s.submit(call(100 + t, at=float(t), priority=5))
        plan = s.schedule(float(t))
        served.append(started(plan)[0])
        s.on_finish(plan.start[0].call)
    assert 1 in served, "the low-priority call starved"
    assert served.index(1) <= 6


def test_program_fcfs_puts_preempted_then_resident_then_earlier_programs_first() -> None:
    s = scheduler(ProgramFcfsPolicy())
    s.submit(call(1, arrival=3.0))
    s.submit(call(2, arrival=1.0))
    s.submit(call(3, arrival=5.0, resident=True))
    preempted = call(4, arrival=9.0)
    preempted.preempted = True
    s.submit(preempted)
    assert serve_all(s) == [4, 3, 2, 1]


def test_a_call_without_kv_room_waits_without_being_started_and_blocks_smaller_ones() -> None:
    s = scheduler(FifoPolicy(), slots=4, cells=1000)
    running = call(1, cells=700)
    s.submit(running)
    assert started(s.schedule(0.0)) == [1]
    big, small = call(2, cells=500), call(3, cells=100)
    s.submit(big)
    s.submit(small)
    plan = s.schedule(0.0)
    assert plan.start == [] and plan.wait_for_kv == [big]  # a slot is free, the cells are not
    s.on_finish(running)
    assert started(s.schedule(0.0)) == [2, 3]


def test_cells_are_not_counted_on_an_engine_without_a_shared_pool() -> None:
    s = scheduler(FifoPolicy(), slots=2)
    s.submit(call(1, engine="remote", cells=10**9))
    assert started(s.schedule(0.0)) == [1]


def test_background_calls_run_after_waiting_calls_unless_they_have_aged() -> None:
    s = scheduler(FifoPolicy(), aging_s=10.0)
    s.submit(call(1, at=0.0, background=True))
    s.submit(call(2, at=1.0))
    assert s.next_aging_in(5.0) == pytest.approx(5.0)
    assert serve_all(s, now=5.0) == [2, 1]
    s.submit(call(3, at=0.0, background=True))
    s.submit(call(4, at=11.0))
    assert serve_all(s, now=12.0) == [3, 4]  # waited 12 s: it goes first now


def test_remove_takes_out_waiting_and_paused_calls_of_a_process() -> None:
    s = scheduler(RoundRobinPolicy(slice_tokens=2), slots=1)
    paused = call(1)
    s.submit(paused)
    s.schedule(0.0)
    s.on_yield(paused)
    for pid in (2, 1, 3):
        s.submit(call(pid))
    removed = s.remove(1)
    assert sorted(c.pid for c in removed) == [1, 1]
    assert sorted(c.pid for c in s.waiting()) == [2, 3]
    assert s.running("local") == []


def test_calls_are_planned_per_engine() -> None:
    s = scheduler(FifoPolicy(), slots=1)
    s.submit(call(1, engine="remote"))
    s.submit(call(2, engine="local"))
    s.submit(call(3, engine="local"))
    assert sorted(started(s.schedule(0.0))) == [1, 2]


def test_unknown_policy_is_a_config_error() -> None:
    assert create_policy("round_robin").name == "round_robin"
    with pytest.raises(ConfigError, match="unknown scheduler policy 'lottery'"):
        create_policy("lottery")
