"""The KV lifecycle on the real engine: swap round trips, pins across tool calls, exact preemption."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.kernel.engines.interface import KVDecision
from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.errors import GenerationPreempted
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.scheduler import RoundRobinPolicy
from aios.kernel.syscalls import LLMSyscall, Message, Sampling, ToolSyscall

pytestmark = pytest.mark.model


def chat(*texts: str, max_tokens: int = 24) -> LLMSyscall:
    roles = ["user", "assistant"]
    messages = tuple(Message(role=roles[i % 2], content=t) for i, t in enumerate(texts))  # type: ignore[arg-type]
    return LLMSyscall(messages=messages, max_tokens=max_tokens, sampling=Sampling(ignore_eos=True))


async def settle(engine: LocalEngine) -> None:
    """Let the engine thread work through its inbox (park and release are fire-and-forget)."""
    await engine.generate(chat("ok", max_tokens=1), owner=-1)


@pytest.fixture
def fresh_engine(calibration_file: Path) -> Iterator[LocalEngine]:
    """An engine whose cache has no holes: llama.cpp's sums depend on where cells lie, so exactness tests
    start from a clean cache rather than the one the other tests have churned."""
    engine = LocalEngine(
        LocalEngineConfig(max_concurrency=2, n_seq_max=4, calibration_file=str(calibration_file))
    )
    yield engine
    asyncio.run(engine.close())


async def test_swap_round_trip_restores_the_cache(local_engine: LocalEngine) -> None:
    first = await local_engine.generate(chat("Describe the sea."), owner=2001)
    await local_engine.generate(chat("Describe the sea."), owner=2002)
    swapped_out = local_engine.kv.stats.swap_out_bytes
    swapped_in = local_engine.kv.stats.swap_in_bytes
    await local_engine.park(2001, KVDecision(action="swap"))
    await settle(local_engine)
    entry = next(e for e in local_engine.kv_entries() if e.owner == 2001)
    assert entry.state == "swapped" and entry.cells == 0 and entry.host_bytes > 0
    follow_up = chat("Describe the sea.", first.content, "And the sky?")
    via_host = await local_engine.generate(follow_up, owner=2001)
    resident = await local_engine.generate(follow_up, owner=2002)
    assert local_engine.kv.stats.swap_out_bytes > swapped_out
    assert local_engine.kv.stats.swap_in_bytes > swapped_in
    assert via_host.usage.reused_tokens == resident.usage.reused_tokens > 0
    assert via_host.usage.prefilled_tokens == resident.usage.prefilled_tokens


async def test_state_copied_out_and_back_is_bit_identical(local_engine: LocalEngine) -> None:
    runtime = local_engine._runtime
    done = asyncio.get_running_loop().create_future()

    # llama.cpp calls belong on the engine thread; run them there between steps
    def probe() -> None:
        try:
            seq = local_engine.kv.find(2001) or local_engine.kv.find(2002)
            assert seq is not None and seq.slot is not None
            data = runtime.state_get(seq.slot)
            runtime.seq_remove(seq.slot, 0, -1)
            assert runtime.state_set(seq.slot, data)
            copy = runtime.state_get(seq.slot)
            done.get_loop().call_soon_threadsafe(done.set_result, data == copy)
        except BaseException as e:
            done.get_loop().call_soon_threadsafe(done.set_exception, e)

    local_engine._inbox.put(("call", probe))
    assert await done


async def test_preempted_greedy_output_equals_unpreempted(fresh_engine: LocalEngine) -> None:
    local_engine = fresh_engine
    request = chat("List some animals.", max_tokens=40)
    plain = await local_engine.generate(request, owner=2010)
    await local_engine.release(2010)
    local_engine.waiting_hint = 1
    try:
        resume = None
        pieces = 0
        while True:
            try:
                sliced = await local_engine.generate(request, owner=2011, slice_tokens=7, resume=resume)
                break
            except GenerationPreempted as e:
                resume, pieces = e.handle, pieces + 1
    finally:
        local_engine.waiting_hint = 0
    assert pieces == 5  # 40 tokens in slices of 7
    assert sliced.content == plain.content
    assert sliced.usage.completion_tokens == plain.usage.completion_tokens == 40


async def test_round_robin_kernel_preempts_and_outputs_match(
    model_kernel: Kernel, local_engine: LocalEngine, calibration_file: object
) -> None:
    small = LocalEngine(
        LocalEngineConfig(max_concurrency=1, n_seq_max=4, calibration_file=str(calibration_file))
    )
    model_kernel.engines.register("local", small)
    model_kernel.policy = RoundRobinPolicy(slice_tokens=6)
    prompts = ["Name three rivers.", "Name three mountains.", "Name three cities."]
    expected = [(await small.generate(chat(p), owner=2020 + i)).content for i, p in enumerate(prompts)]
    for i in range(len(prompts)):
        await small.release(2020 + i)

    def program_for(prompt: str):
        async def program(pid: int) -> str:
            result = await model_kernel.syscall(pid, chat(prompt))
            return result.content  # type: ignore[union-attr]

        return program

    try:
        pids = [
            await model_kernel.spawn(program_for(p), agent="rr", task=p, capabilities=["llm"])
            for p in prompts
        ]
        records = [await model_kernel.wait(pid) for pid in pids]
    finally:
        await small.close()
    assert [r.state for r in records] == [ProcessState.DONE] * 3
    assert [r.result for r in records] == expected
    assert small.stats.preemptions >= 4


async def test_a_tool_call_pins_the_cache_and_the_return_reuses_it(model_kernel: Kernel) -> None:
    async def program(pid: int) -> str:
        first = await model_kernel.syscall(pid, chat("Plan a trip.", max_tokens=12))
        await model_kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "sleep 0.3"}))
        again = chat("Plan a trip.", first.content, "Shorter, please.", max_tokens=8)  # type: ignore[union-attr]
        second = await model_kernel.syscall(pid, again)
        return str(second.usage.reused_tokens)  # type: ignore[union-attr]

    pid = await model_kernel.spawn(program, agent="trip", task="t", capabilities=["llm", "shell.exec"])
    record = await model_kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert int(record.result or 0) > 0
    await asyncio.to_thread(model_kernel.store.flush)
    tool_row = next(r for r in model_kernel.store.audit(pid=pid) if r.kind == "tool")
    assert tool_row.detail["kv"]["policy"] == "ours" and tool_row.detail["kv"]["action"] == "pin"
    assert model_kernel.durations.count("shell.exec") == 1


async def test_ps_sees_the_pinned_cache_while_the_tool_runs(model_kernel: Kernel) -> None:
    seen: list[tuple[str | None, int]] = []

    async def program(pid: int) -> str:
        await model_kernel.syscall(pid, chat("Write a plan.", max_tokens=6))
        tool = asyncio.create_task(
            model_kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "sleep 2"}))
        )
        await asyncio.sleep(1.5)
        await asyncio.to_thread(model_kernel.store.flush)
        stored = model_kernel.store.get_process(pid)
        assert stored is not None
        seen.append((stored.kv_state, stored.kv_tokens))
        await tool
        return "ok"

    pid = await model_kernel.spawn(program, agent="ps", task="t", capabilities=["llm", "shell.exec"])
    assert (await model_kernel.wait(pid)).state == ProcessState.DONE
    assert seen and seen[0][0] == "pinned" and seen[0][1] > 0
    await asyncio.to_thread(model_kernel.store.flush)
    assert model_kernel.store.get_process(pid).kv_state is None  # type: ignore[union-attr]
