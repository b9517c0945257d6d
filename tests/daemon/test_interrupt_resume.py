"""The daemon stops and starts again: nothing is lost, interrupted programs finish with the same answers."""

from __future__ import annotations

import json
from pathlib import Path

from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.kernel.records import ProcessState
from tests.daemon.conftest import asgi_client, user_token
from tests.fakes import FakeEngine, until


async def test_a_graceful_stop_interrupts_and_the_next_daemon_resumes(
    fake_daemon: Daemon, daemon_settings: Settings, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    task = json.dumps({"say": "hello", "gate": str(gate)})
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        pid = (await api.post("/v1/processes", json={"agent": "journaler", "task": task})).json()["pid"]
        await until(
            lambda: len(fake_daemon.kernel.store.journal(pid)) == 2, "a shell and an LLM call journaled"
        )
    await fake_daemon.close()
    assert fake_daemon.kernel.store.get_process(pid).state == ProcessState.INTERRUPTED  # type: ignore[union-attr]

    gate.touch()
    settings = daemon_settings.model_copy(
        update={"daemon": daemon_settings.daemon.model_copy(update={"resume_interrupted": True})}
    )
    engine = FakeEngine()
    second = await start_daemon(settings, cwd=tmp_path, preload=False)
    second.kernel.engines.register("local", engine)
    try:
        resumed = await second.kernel.wait(pid)
        async with asgi_client(second, user_token(second, "alice")) as api:
            fresh = (await api.post("/v1/processes", json={"agent": "journaler", "task": task})).json()["pid"]
            reference = (await api.get(f"/v1/processes/{fresh}/wait")).json()
    finally:
        await second.close()
    assert resumed.state == ProcessState.DONE, resumed.error
    assert resumed.isolated and resumed.owner == "alice"
    answer = json.loads(resumed.result or "")
    assert answer["runs"] == "hello\n"  # the first command was answered from the journal, not run again
    assert answer == json.loads(reference["result"])
    assert (engine.started.count(pid), engine.started.count(fresh)) == (1, 2), "the first LLM call, too"


async def test_a_resumed_process_holds_no_more_than_its_users_grant_of_the_day(
    fake_daemon: Daemon, daemon_settings: Settings, tmp_path: Path
) -> None:
    """A process kept what its user held at spawn; resumed after the admin took a capability away, it had it
    back (`aios resume`, or every interrupted process at the daemon's start after an upgrade)."""
    fake_daemon.grants.set("alice", ["llm", "shell.exec"], by="admin")
    gate = tmp_path / "gate"
    task = json.dumps({"say": "hello", "gate": str(gate)})
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        spawned = (await api.post("/v1/processes", json={"agent": "journaler", "task": task})).json()
        pid = spawned["pid"]
        assert spawned["capabilities"] == ["llm", "shell.exec"]
        await until(
            lambda: len(fake_daemon.kernel.store.journal(pid)) == 2, "a shell and an LLM call journaled"
        )
    await fake_daemon.close()
    fake_daemon.grants.set("alice", ["llm"], by="admin")

    second = await start_daemon(daemon_settings, cwd=tmp_path, preload=False)
    second.kernel.engines.register("local", FakeEngine())
    try:
        async with asgi_client(second, user_token(second, "alice")) as api:
            resumed = await api.post(f"/v1/processes/{pid}/resume")
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["capabilities"] == ["llm"]
            ended = await second.kernel.wait(pid)
    finally:
        await second.close()
    assert ended.state == ProcessState.FAILED and "shell.exec" in (ended.error or ""), ended.error
