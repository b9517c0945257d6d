"""Crash-proof programs: a process interrupted mid-run is resumed from its syscall journal."""

from __future__ import annotations

import json
from pathlib import Path

from aios.agent_launch import resume_agent, spawn_agent
from aios.boot import boot
from aios.config import Settings
from aios.kernel.engines.local import LocalEngine
from aios.kernel.errors import UserError
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from tests.fakes import until
from tests.isolation.probe_agents import Journaler, Wanderer


async def _kernel(settings: Settings, cwd: Path, engine: LocalEngine) -> Kernel:
    kernel = await boot(settings, cwd=cwd)
    kernel.engines.register("local", engine)
    return kernel


def _journaled(kernel: Kernel, pid: int) -> int:
    return len(kernel.store.journal(pid))


async def test_an_interrupted_program_resumes_from_its_journal_without_running_tools_again(
    settings: Settings, tmp_path: Path, local_engine: LocalEngine
) -> None:
    gate = tmp_path / "gate"
    task = json.dumps({"say": "hello", "gate": str(gate)})
    first = await _kernel(settings, tmp_path, local_engine)
    pid = await spawn_agent(first, Journaler, task)
    await until(
        lambda: _journaled(first, pid) == 2 and first.process(pid).state == ProcessState.WAITING_TOOL,
        "the shell and LLM calls journaled (not the no-op), and the wait at the gate begun",
    )
    await first.shutdown(close_engines=False, interrupt=True)
    assert first.process(pid).state == ProcessState.INTERRUPTED

    second = await _kernel(settings, tmp_path, local_engine)
    try:
        assert second.process(pid).state == ProcessState.INTERRUPTED
        gate.touch()
        await resume_agent(second, pid)
        resumed = await second.wait(pid)
        reference = await second.wait(await spawn_agent(second, Journaler, task))
        second.store.flush()
        audit = second.store.audit(pid=pid)
    finally:
        await second.shutdown(close_engines=False)
    assert resumed.state == ProcessState.DONE, resumed.error
    answer = json.loads(resumed.result or "")
    assert answer["runs"] == "hello\n"  # on resume the first command's output came from the journal
    assert answer == json.loads(reference.result or "")  # greedy: the same answer as an uninterrupted run
    shell_calls = [(r.detail["arguments"]["cmd"].split()[0], r.status) for r in audit if r.kind == "tool"]
    # the wait at the gate was cut by the shutdown, so it is the one call that ran again
    assert shell_calls == [("echo", "ok"), ("while", "killed"), ("while", "ok")]
    assert [r.kind for r in audit].count("llm") == 2  # the first LLM call was not made again
    assert _journaled(second, pid) == 4


async def test_a_program_that_asks_for_something_else_on_resume_stops_with_diverged(
    settings: Settings, tmp_path: Path, local_engine: LocalEngine
) -> None:
    word_file, gate = tmp_path / "word", tmp_path / "gate"
    word_file.write_text("apple")
    first = await _kernel(settings, tmp_path, local_engine)
    pid = await spawn_agent(first, Wanderer, json.dumps({"word_file": str(word_file), "gate": str(gate)}))
    await until(lambda: _journaled(first, pid) == 1, "the first shell call journaled")
    await first.shutdown(close_engines=False, interrupt=True)
    word_file.write_text("pear")
    gate.touch()
    second = await _kernel(settings, tmp_path, local_engine)
    try:
        await resume_agent(second, pid)
        record = await second.wait(pid)
        with_done = await second.wait(
            await spawn_agent(second, Wanderer, json.dumps({"word_file": str(word_file), "gate": str(gate)}))
        )
        try:
            await resume_agent(second, with_done.pid)
        except UserError as e:  # the request is wrong, not a syscall: the API answers 400
            refused = str(e)
    finally:
        await second.shutdown(close_engines=False)
    assert record.state == ProcessState.FAILED
    assert (record.error or "").startswith("diverged: on resume the program asked tool shell.exec")
    assert "echo pear" in (record.error or "") and "echo apple" in (record.error or "")
    assert "only interrupted processes resume" in refused
