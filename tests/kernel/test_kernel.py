"""Process lifecycle and the syscall path: validation, capabilities, crashes, kills, audit rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from aios.boot import boot
from aios.config import Settings
from aios.kernel.errors import InvalidSyscall, KernelShutDown, PermissionDenied, UnknownProcess
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessRecord, ProcessState
from aios.kernel.store import ProcessStore
from aios.kernel.syscalls import LLMSyscall, Message, NoopSyscall, ToolSyscall

from ..fakes import DEADLINE_S, EventLog, FakeEngine, kind, until


async def idle(kernel: Kernel, caps: list[str] | None = None) -> tuple[int, asyncio.Event]:
    """A process that just waits until released, so tests can make syscalls on its behalf."""
    stop = asyncio.Event()

    async def program(pid: int) -> str:
        await stop.wait()
        return "bye"

    pid = await kernel.spawn(program, agent="idle", task="wait", capabilities=caps or ["llm", "shell.exec"])
    return pid, stop


def ask(text: str) -> LLMSyscall:
    return LLMSyscall(messages=(Message(role="user", content=text),), max_tokens=4)


async def test_malformed_syscalls_get_clear_errors_and_the_kernel_keeps_serving(kernel: Kernel) -> None:
    pid, stop = await idle(kernel)
    with pytest.raises(InvalidSyscall, match="malformed syscall") as info:
        await kernel.syscall(pid, {"kind": "llm", "messages": []})
    assert "messages" in str(info.value)
    with pytest.raises(InvalidSyscall, match="kind"):
        await kernel.syscall(pid, {"kind": "teleport"})
    with pytest.raises(InvalidSyscall, match="no driver 'nope'"):
        await kernel.syscall(pid, ToolSyscall(name="nope.run"))
    with pytest.raises(InvalidSyscall, match="no operation 'format'"):
        await kernel.syscall(pid, ToolSyscall(name="shell.format"))
    with pytest.raises(InvalidSyscall, match=r"bad arguments for shell\.exec: cmd"):
        await kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"command": "ls"}))
    with pytest.raises(InvalidSyscall, match=r"bad arguments for memory\.recall: query: Field required"):
        await kernel.syscall(pid, {"kind": "memory", "op": "recall"})
    with pytest.raises(UnknownProcess):
        await kernel.syscall(9999, NoopSyscall())
    # still serving the same process and new ones
    assert (await kernel.syscall(pid, {"kind": "noop"})).kind == "noop"
    other, stop2 = await idle(kernel)
    assert (await kernel.syscall(other, NoopSyscall())).kind == "noop"
    stop.set()
    stop2.set()
    assert (await kernel.wait(pid)).state == ProcessState.DONE


async def test_capabilities_are_enforced_and_denials_audited(kernel: Kernel) -> None:
    pid, stop = await idle(kernel, caps=["llm"])
    with pytest.raises(PermissionDenied, match=r"'shell\.exec' not granted"):
        await kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "true"}))
    assert [s.name for s in kernel.tool_specs(pid)] == []
    no_llm, stop2 = await idle(kernel, caps=["shell.exec"])
    with pytest.raises(PermissionDenied, match="'llm' not granted"):
        await kernel.syscall(no_llm, ask("hi"))
    stop.set()
    stop2.set()
    await kernel.wait(pid)
    await kernel.wait(no_llm)
    await asyncio.to_thread(kernel.store.flush)
    rows = kernel.store.audit(pid=pid)
    assert [(r.kind, r.target, r.status) for r in rows] == [("tool", "shell.exec", "denied")]
    assert "not granted" in (rows[0].error or "")


async def test_crashed_agent_is_failed_with_traceback_and_others_carry_on(kernel: Kernel) -> None:
    async def crash(pid: int) -> str:
        raise ZeroDivisionError("agent bug")

    async def fine(pid: int) -> str:
        await kernel.syscall(pid, NoopSyscall())
        return "fine"

    bad = await kernel.spawn(crash, agent="bad", task="t", capabilities=[])
    good = await kernel.spawn(fine, agent="good", task="t", capabilities=[])
    failed = await kernel.wait(bad)
    assert failed.state == ProcessState.FAILED
    assert failed.error == "ZeroDivisionError: agent bug"
    assert "raise ZeroDivisionError" in (failed.traceback or "")
    assert (await kernel.wait(good)).result == "fine"
    await asyncio.to_thread(kernel.store.flush)
    stored = kernel.store.get_process(bad)
    assert stored is not None and stored.state == ProcessState.FAILED and stored.traceback


async def test_kill_cancels_in_flight_llm_call_drops_queued_ones_and_frees_the_slot(kernel: Kernel) -> None:
    engine = FakeEngine(gated=True)
    kernel.engines.register("local", engine)
    log = EventLog(kernel)

    async def chatty(pid: int) -> str:
        await kernel.syscall(pid, ask(f"from {pid}"))
        return "done"

    first = await kernel.spawn(chatty, agent="a", task="t", capabilities=["llm"])
    second = await kernel.spawn(chatty, agent="b", task="t", capabilities=["llm"])
    third = await kernel.spawn(chatty, agent="c", task="t", capabilities=["llm"])
    await log.wait(kind("syscall_queued"), count=3)
    await engine.wait_started(1)
    assert engine.started == [first]  # one slot: the others wait in the queue
    assert [c.pid for c in kernel.scheduler.waiting()] == [second, third]
    assert (await kernel.kill(second)).state == ProcessState.KILLED  # queued
    assert [c.pid for c in kernel.scheduler.waiting()] == [third]
    assert (await kernel.kill(first)).state == ProcessState.KILLED  # in flight
    assert engine.cancelled == [first]
    # the freed slot goes to the third process, which completes
    engine.gate.set()
    record = await kernel.wait(third)
    assert record.state == ProcessState.DONE
    assert engine.started == [first, third]
    assert first in engine.released and third in engine.released


async def test_kill_stops_a_running_tool_call(kernel: Kernel) -> None:
    async def sleeper(pid: int) -> str:
        await kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "sleep 600"}))
        return "woke"

    log = EventLog(kernel)
    pid = await kernel.spawn(sleeper, agent="s", task="t", capabilities=["shell.exec"])
    await until(lambda: kernel.process(pid).state == ProcessState.WAITING_TOOL, "the tool call to start")
    # without stopping the command, kill would wait out its 600 s
    async with asyncio.timeout(DEADLINE_S):
        record = await kernel.kill(pid)
    assert record.state == ProcessState.KILLED
    finished = await log.wait(kind("syscall_finished", pid=pid, syscall="tool"))
    assert finished[0].status == "killed"


async def test_every_syscall_is_audited_with_timings(kernel: Kernel) -> None:
    kernel.engines.register("local", FakeEngine(max_running=4))

    async def program(pid: int) -> str:
        await kernel.syscall(pid, NoopSyscall())
        await kernel.syscall(pid, ask("hello"))
        await kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "echo hi"}))
        return "ok"

    pid = await kernel.spawn(program, agent="p", task="t", capabilities=["llm", "shell.exec"])
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    await asyncio.to_thread(kernel.store.flush)
    rows = kernel.store.audit(pid=pid)
    assert [(r.kind, r.target, r.status) for r in rows] == [
        ("noop", "", "ok"),
        ("llm", "local", "ok"),
        ("tool", "shell.exec", "ok"),
    ]
    llm_row, tool_row = rows[1], rows[2]
    assert llm_row.tokens_in == len("hello") and llm_row.tokens_out == 2
    assert llm_row.service_us >= 0 and llm_row.queue_wait_us >= 0
    assert tool_row.service_us > 0 and tool_row.detail["arguments"] == {"cmd": "echo hi"}
    stored = kernel.store.get_process(pid)
    assert stored is not None
    assert (stored.llm_calls, stored.tool_calls, stored.tokens_in, stored.tokens_out) == (1, 1, 5, 2)


async def test_process_table_is_visible_to_another_reader_and_orphans_are_reaped(kernel: Kernel) -> None:
    pid, stop = await idle(kernel)
    await asyncio.to_thread(kernel.store.flush)
    reader = ProcessStore(kernel.store.url)
    try:
        assert reader.get_process(pid).state == ProcessState.RUNNING  # type: ignore[union-attr]
        # a row left running by a kernel process that no longer exists
        ghost = reader.create_process(
            ProcessRecord(
                pid=0,
                agent="ghost",
                owner="x",
                state=ProcessState.WAITING_LLM,
                task="t",
                created_at=time.time(),
                host_pid=2**22 + 12345,
            )
        )
        assert reader.reap_orphans(time.time()) == [ghost]
        reaped = reader.get_process(ghost)
        assert reaped is not None and reaped.state == ProcessState.FAILED
        assert "orphaned" in (reaped.error or "") and "waiting_llm" in (reaped.error or "")
        assert reader.get_process(pid).state == ProcessState.RUNNING  # type: ignore[union-attr]
    finally:
        reader.close()
        stop.set()


async def test_unknown_model_and_ended_process_are_user_errors(kernel: Kernel) -> None:
    from aios.kernel.errors import UnknownModel

    pid, stop = await idle(kernel)
    with pytest.raises(UnknownModel, match="no model named 'gpt-nope'"):
        await kernel.syscall(pid, LLMSyscall(messages=(Message(role="user", content="x"),), model="gpt-nope"))
    stop.set()
    await kernel.wait(pid)
    with pytest.raises(InvalidSyscall, match="has already ended"):
        await kernel.syscall(pid, NoopSyscall())
    with pytest.raises(UnknownProcess):
        await kernel.kill(424242)


async def test_kernel_dispatches_in_the_policy_order(kernel: Kernel) -> None:
    from aios.kernel.scheduler import PriorityPolicy

    kernel.policy = PriorityPolicy(aging_per_s=0.0)
    engine = FakeEngine(gated=True)
    kernel.engines.register("local", engine)
    log = EventLog(kernel)

    blocker = await kernel.spawn(one_call(kernel), agent="a", task="t", capabilities=["llm"])
    await engine.wait_started(1)
    low = await kernel.spawn(one_call(kernel), agent="low", task="t", capabilities=["llm"], priority=0)
    high = await kernel.spawn(one_call(kernel), agent="high", task="t", capabilities=["llm"], priority=9)
    await log.wait(kind("syscall_queued"), count=3)
    engine.gate.set()
    for pid in (blocker, low, high):
        assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert engine.started == [blocker, high, low]


def one_call(kernel: Kernel) -> Callable[[int], Awaitable[str]]:
    """A program that makes one LLM call."""

    async def program(pid: int) -> str:
        await kernel.syscall(pid, ask("x"))
        return "ok"

    return program


async def queue_behind_a_running_call(kernel: Kernel, log: EventLog) -> tuple[FakeEngine, int, int]:
    """A busy one-slot engine and a queued background call; returns the engine and both pids."""
    engine = FakeEngine(gated=True)
    kernel.engines.register("local", engine)
    blocker = await kernel.spawn(one_call(kernel), agent="a", task="t", capabilities=["llm"])
    await engine.wait_started(1)
    housekeeping = await kernel.spawn(
        one_call(kernel), agent="pager", task="t", capabilities=["llm"], background=True
    )
    await log.wait(kind("syscall_queued", pid=housekeeping))
    return engine, blocker, housekeeping


async def test_background_calls_run_only_when_no_other_call_waits(kernel: Kernel) -> None:
    log = EventLog(kernel)
    engine, blocker, housekeeping = await queue_behind_a_running_call(kernel, log)
    late = await kernel.spawn(one_call(kernel), agent="late", task="t", capabilities=["llm"])
    await log.wait(kind("syscall_queued", pid=late))
    engine.gate.set()
    for pid in (blocker, housekeeping, late):
        assert (await kernel.wait(pid)).state == ProcessState.DONE
    # the background call was queued first, yet the agent that came later went first
    assert engine.started == [blocker, late, housekeeping]


async def test_a_killed_background_process_leaves_nothing_queued(kernel: Kernel) -> None:
    log = EventLog(kernel)
    engine, blocker, housekeeping = await queue_behind_a_running_call(kernel, log)
    assert [c.pid for c in kernel.scheduler.waiting()] == [housekeeping]
    assert (await kernel.kill(housekeeping)).state == ProcessState.KILLED
    assert kernel.scheduler.waiting() == []
    engine.gate.set()
    assert (await kernel.wait(blocker)).state == ProcessState.DONE
    assert engine.started == [blocker]


async def test_every_started_syscall_finishes_exactly_once(kernel: Kernel) -> None:
    engine = FakeEngine(gated=True)
    kernel.engines.register("local", engine)
    log = EventLog(kernel)
    holder = await kernel.spawn(one_call(kernel), agent="holder", task="t", capabilities=["llm"])
    await engine.wait_started(1)

    async def mixed(pid: int) -> str:
        await kernel.syscall(pid, NoopSyscall())
        with pytest.raises(InvalidSyscall):
            await kernel.syscall(pid, {"kind": "llm", "messages": []})
        with pytest.raises(PermissionDenied):
            await kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "true"}))
        await kernel.syscall(pid, ask("waits behind the holder"))
        return "unreachable"

    pid = await kernel.spawn(mixed, agent="mixed", task="t", capabilities=["llm"])
    await log.wait(kind("syscall_queued", pid=pid))
    await kernel.kill(pid)  # its LLM call is queued
    await kernel.kill(holder)  # its LLM call is running
    started = log.matching(kind("syscall_started"))
    finished = log.matching(kind("syscall_finished"))
    assert sorted(e.syscall_id for e in started) == sorted(e.syscall_id for e in finished)
    assert len({e.syscall_id for e in finished}) == len(finished) == 5
    outcome = {(e.pid, e.syscall): e.status for e in finished}
    assert outcome == {
        (pid, "noop"): "ok",
        (pid, "invalid"): "error",
        (pid, "tool"): "denied",
        (pid, "llm"): "killed",
        (holder, "llm"): "killed",
    }


async def test_a_shut_down_kernel_takes_no_new_processes(kernel: Kernel) -> None:
    await kernel.shutdown()
    with pytest.raises(KernelShutDown, match="shut down"):
        await kernel.spawn(one_call(kernel), agent="late", task="t", capabilities=["llm"])


async def test_tool_pause_statistics_survive_a_restart(settings: Settings, tmp_path: Path) -> None:
    first = await boot(settings, cwd=tmp_path)
    first.engines.register("local", FakeEngine())

    async def agent(pid: int) -> str:
        await first.syscall(pid, ask("plan"))
        await first.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "true"}))
        await first.syscall(pid, ask("go on"))
        return "ok"

    pid = await first.spawn(agent, agent="a", task="t", capabilities=["llm", "shell.exec"])
    assert (await first.wait(pid)).state == ProcessState.DONE
    assert first.kv.durations.count("shell.exec") == 1
    await first.shutdown()
    second = await boot(settings, cwd=tmp_path)
    try:
        assert second.kv.durations.count("shell.exec") == 1  # seeded from the audit log
    finally:
        await second.shutdown()


async def test_ended_processes_leave_memory_but_not_the_store(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon runs processes for months: only the latest few ended ones stay in memory."""
    from aios.kernel import process_table

    monkeypatch.setattr(process_table, "RETAINED_ENDED", 2)

    async def program(pid: int) -> str:
        await kernel.syscall(pid, NoopSyscall())
        return f"done {pid}"

    pids = [await kernel.spawn(program, agent="t", task="", capabilities=[]) for _ in range(5)]
    for pid in pids:
        await kernel.wait(pid)
    assert kernel.table.all_live() == []
    assert [kernel.table.live(pid) is not None for pid in pids] == [False, False, False, True, True]
    kernel.store.flush()
    assert [(await kernel.wait(pid)).result for pid in pids] == [f"done {pid}" for pid in pids]
    assert kernel.process(pids[0]).state == ProcessState.DONE
