"""The react agent: its loop logic with a scripted engine, and a real run on the embedded model."""

from __future__ import annotations

import asyncio

import pytest

from aios.agent_launch import spawn_agent
from aios.agents.react import ReactAgent
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState

from ..fakes import FakeEngine


async def test_stops_on_a_repeated_failing_call(kernel: Kernel) -> None:
    engine = FakeEngine(
        calls=[("shell.exec", {"cmd": "ls /definitely/missing"})], answer="final words", repeat=True
    )
    kernel.engines.register("local", engine)
    pid = await spawn_agent(kernel, ReactAgent, "list it")
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "final words"
    assert record.tool_calls == 1  # the repeat was not executed again
    assert len(engine.requests) == 3  # call, repeat, final answer
    final = engine.requests[-1]
    assert final.tool_choice == "none"
    observations = [m.content for m in final.messages if m.role == "tool"]
    assert "No such file" in observations[0] and "failed before" in observations[1]


async def test_succeeding_repeats_end_with_an_answer_within_the_step_budget(kernel: Kernel) -> None:
    engine = FakeEngine(calls=[("shell.exec", {"cmd": "echo same"})], answer="final words", repeat=True)
    kernel.engines.register("local", engine)
    pid = await spawn_agent(kernel, ReactAgent, "say it")
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE and record.result == "final words"
    assert len(engine.requests) <= ReactAgent.max_steps + 1


@pytest.mark.model
async def test_react_on_the_embedded_model_makes_valid_tool_calls(model_kernel: Kernel) -> None:
    pid = await spawn_agent(model_kernel, ReactAgent, "How many files are in the current folder?")
    record = await asyncio.wait_for(model_kernel.wait(pid), timeout=240)
    assert record.state == ProcessState.DONE, record.error
    assert record.result
    await asyncio.to_thread(model_kernel.store.flush)
    rows = model_kernel.store.audit(pid=pid)
    tools = [r for r in rows if r.kind == "tool"]
    llms = [r for r in rows if r.kind == "llm"]
    assert tools, "the model never called a tool"
    assert all(r.status == "ok" and r.target == "shell.exec" for r in tools), tools
    assert llms[0].detail["tool_calls"] == ["shell.exec"]
    # later turns reuse the process's own KV cache
    assert any(r.detail["reused_tokens"] > 0 for r in llms[1:])
    assert record.llm_calls <= ReactAgent.max_steps + 1
