"""Processes held for clients: alive while used, ended when idle, when let go, or at shutdown."""

from __future__ import annotations

import asyncio

import pytest

from aios.api.lease import STOPPED, Leases, Start
from aios.kernel.contracts import Program
from aios.kernel.errors import KernelShutDown, LimitExceeded
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from tests.fakes import until


def starter(kernel: Kernel, spawned: list[int]) -> Start:
    async def start(program: Program) -> int:
        pid = await kernel.spawn(program, agent="held", task="t", capabilities=[])
        spawned.append(pid)
        return pid

    return start


async def test_a_held_process_lives_while_used_and_ends_once_idle(kernel: Kernel) -> None:
    leases: Leases[str] = Leases(kernel, idle_s=0.3)
    spawned: list[int] = []
    lease = await leases.hold("alice", starter(kernel, spawned))
    assert await leases.hold("alice", starter(kernel, spawned)) is lease
    ended = asyncio.ensure_future(kernel.wait(lease.pid))
    with lease.using():  # a request in flight for twice the idle time: the process must not end under it
        done, _ = await asyncio.wait({ended}, timeout=0.6)
        assert not done and kernel.process(lease.pid).state == ProcessState.RUNNING
    record = await asyncio.wait_for(ended, 5)
    assert (record.state, record.result) == (ProcessState.DONE, "idle: no request for 0s")
    again = await leases.hold("alice", starter(kernel, spawned))
    assert again is not lease and spawned == [lease.pid, again.pid]
    await leases.aclose()


async def test_admit_refuses_before_anything_is_spawned_and_one_offs_end_when_let_go(kernel: Kernel) -> None:
    leases: Leases[tuple[str, str]] = Leases(kernel, idle_s=None)
    spawned: list[int] = []

    def full() -> None:
        raise LimitExceeded("alice holds too many")

    with pytest.raises(LimitExceeded):
        await leases.hold(("alice", "x"), starter(kernel, spawned), admit=full)
    assert spawned == []
    one_off = await leases.hold(None, starter(kernel, spawned))
    assert await leases.hold(None, starter(kernel, spawned)) is not one_off
    one_off.end("one call served")
    one_off.end("a second reason does not replace the first")
    record = await asyncio.wait_for(kernel.wait(one_off.pid), 5)
    assert (record.state, record.result) == (ProcessState.DONE, "one call served")
    await leases.aclose()


async def test_closing_ends_every_held_process_done_and_takes_no_more(kernel: Kernel) -> None:
    leases: Leases[str] = Leases(kernel, idle_s=60)
    spawned: list[int] = []
    held = [await leases.hold(user, starter(kernel, spawned)) for user in ("alice", "bob")]
    one_off = await leases.hold(None, starter(kernel, spawned))
    await until(lambda: all(kernel.process(p).state == ProcessState.RUNNING for p in spawned), "all running")
    await leases.aclose()
    for lease in [*held, one_off]:  # aclose returned only once each had ended
        record = kernel.process(lease.pid)
        assert (record.state, record.result) == (ProcessState.DONE, STOPPED)
    with pytest.raises(KernelShutDown):
        await leases.hold("carol", starter(kernel, spawned))
    assert len(spawned) == 3
    await leases.aclose()  # idempotent
