"""The KV lifecycle on the real engine: swap round trips, pins across tool calls, what `aios ps` shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.kernel import Kernel
from aios.kernel.kv_types import KVDecision
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling, ToolSyscall

from ..fakes import EventLog, kind, until
from .helpers import generate

pytestmark = pytest.mark.model


def chat(*texts: str, max_tokens: int = 24) -> LLMSyscall:
    roles = ["user", "assistant"]
    messages = tuple(Message(role=roles[i % 2], content=t) for i, t in enumerate(texts))  # type: ignore[arg-type]
    return LLMSyscall(messages=messages, max_tokens=max_tokens, sampling=Sampling(ignore_eos=True))


async def settle(engine: LocalEngine) -> None:
    """Let the engine thread work through its inbox (park and release are fire-and-forget)."""
    await generate(engine, chat("ok", max_tokens=1), owner=-1)
    await engine.release(-1)


async def test_swap_round_trip_restores_the_cache(local_engine: LocalEngine) -> None:
    first = await generate(local_engine, chat("Describe the sea."), owner=2001)
    second = await generate(local_engine, chat("Describe the sea."), owner=2002)
    swapped_out = local_engine.kv.stats.swap_out_bytes
    swapped_in = local_engine.kv.stats.swap_in_bytes
    await local_engine.park(2001, KVDecision(action="swap"))
    await settle(local_engine)
    entry = next(e for e in local_engine.kv_entries() if e.owner == 2001)
    assert entry.state == "swapped" and entry.cells == 0 and entry.host_bytes > 0
    # each goes on from its own answer (two sequences' greedy answers may differ outside deterministic mode)
    via_host = await generate(
        local_engine, chat("Describe the sea.", first.content, "And the sky?"), owner=2001
    )
    resident = await generate(
        local_engine, chat("Describe the sea.", second.content, "And the sky?"), owner=2002
    )
    assert local_engine.kv.stats.swap_out_bytes > swapped_out
    assert local_engine.kv.stats.swap_in_bytes > swapped_in
    # the cache came back from host memory as whole as the one that stayed: its prompt at least is reused
    assert via_host.usage.reused_tokens >= first.usage.prompt_tokens
    assert resident.usage.reused_tokens >= second.usage.prompt_tokens
    for owner in (2001, 2002):
        await local_engine.release(owner)


async def test_state_copied_out_and_back_is_bit_identical(local_engine: LocalEngine) -> None:
    await generate(local_engine, chat("Describe a harbour."), owner=2005)
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    # llama.cpp calls belong on the engine thread; run them there between steps
    def probe() -> None:
        try:
            seq = local_engine.kv.find(2005)
            assert seq is not None and seq.slot is not None and seq.tokens
            runtime = local_engine._runtime
            data = runtime.state_get(seq.slot)
            runtime.seq_remove(seq.slot, 0, -1)
            assert runtime.state_set(seq.slot, data)
            copy = runtime.state_get(seq.slot)
            done.get_loop().call_soon_threadsafe(done.set_result, data == copy)
        except BaseException as e:
            done.get_loop().call_soon_threadsafe(done.set_exception, e)

    local_engine.call_on_engine_thread(probe)
    assert await done
    await local_engine.release(2005)


async def test_a_tool_call_pins_the_cache_and_the_return_reuses_it(model_kernel: Kernel) -> None:
    async def program(pid: int) -> str:
        first = await model_kernel.syscall(pid, chat("Plan a trip.", max_tokens=12))
        assert isinstance(first, LLMResult)
        await model_kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "sleep 0.3"}))
        second = await model_kernel.syscall(
            pid, chat("Plan a trip.", first.content, "Shorter.", max_tokens=8)
        )
        assert isinstance(second, LLMResult)
        return str(second.usage.reused_tokens)

    pid = await model_kernel.spawn(program, agent="trip", task="t", capabilities=["llm", "shell.exec"])
    record = await model_kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert int(record.result or 0) > 0
    await asyncio.to_thread(model_kernel.store.flush)
    rows = model_kernel.store.audit(pid=pid)
    tool_row = next(r for r in rows if r.kind == "tool")
    assert tool_row.detail["kv"]["policy"] == "ours" and tool_row.detail["kv"]["action"] == "pin"
    assert model_kernel.kv.durations.count("shell.exec") == 1
    second_llm = [r for r in rows if r.kind == "llm"][1]
    assert second_llm.detail["pause"]["tool"] == "shell.exec" and second_llm.detail["pause"]["s"] > 0


async def test_ps_sees_the_pinned_cache_while_the_tool_runs(model_kernel: Kernel) -> None:
    release = asyncio.Event()
    seen: list[tuple[str | None, int]] = []
    log = EventLog(model_kernel)

    async def program(pid: int) -> str:
        await model_kernel.syscall(pid, chat("Write a plan.", max_tokens=6))
        # the tool runs until the test has looked at the process table
        command = "while [ ! -e /workspace/go ]; do sleep 0.05; done"
        tool = asyncio.create_task(
            model_kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": command}))
        )
        await release.wait()
        (model_kernel.workdir(pid) / "go").touch()
        await tool
        return "ok"

    pid = await model_kernel.spawn(program, agent="ps", task="t", capabilities=["llm", "shell.exec"])
    await log.wait(kind("syscall_started", pid=pid, syscall="tool"))

    def stored_kv() -> tuple[str | None, int]:
        model_kernel.store.flush()
        stored = model_kernel.store.get_process(pid)
        assert stored is not None
        return stored.kv_state, stored.kv_tokens

    await until(lambda: stored_kv()[0] == "pinned", "the pinned cache in the process table")
    seen.append(stored_kv())
    release.set()
    assert (await model_kernel.wait(pid)).state == ProcessState.DONE
    assert seen[0][1] > 0
    await asyncio.to_thread(model_kernel.store.flush)
    assert model_kernel.store.get_process(pid).kv_state is None  # type: ignore[union-attr]


async def test_a_cache_evicted_before_its_pause_is_decided_follows_the_policy(calibration_file: Path) -> None:
    """Between an LLM call's end and its tool call, a newcomer may need the cells: `ours` and
    `lru_offload` keep that cache in host memory, the others let it go."""
    engine = LocalEngine(LocalEngineConfig(n_ctx=512, n_seq_max=4, calibration_file=str(calibration_file)))
    try:
        for owner, offload in ((1, True), (2, False)):
            call = await engine.prepare(
                chat("Describe the sea.", max_tokens=8), owner=owner, program_arrival=0.0
            )
            call.offload_when_evicted = offload
            assert isinstance(await engine.run(call), LLMResult)
            # a newcomer that needs nearly every cell
            await generate(engine, chat("word " * 300, max_tokens=150), owner=10 + owner)
            await engine.release(10 + owner)
        await settle(engine)
        states = {e.owner: e.state for e in engine.kv_entries()}
    finally:
        await engine.close()
    assert states.get(1) == "swapped" and 2 not in states
