"""Agent sandboxes started ahead: a spawn takes one, it holds nothing of an earlier agent, and it is the
sandbox a cold start would make (or it is started again)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aios.agent_host import AgentHost, start_agent_host
from aios.agent_launch import spawn_agent
from aios.config import Settings
from aios.isolation.warm_pool import WarmPool
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessRecord, ProcessState
from aios.sdk import Agent
from aios.tools.process_groups import alive
from aios.tools.sandbox import SANDBOX_HOME, find_bwrap
from aios.tools.sandbox_user import WARM_BASE, WARM_UIDS, for_process, lend, release, switching
from tests.fakes import until
from tests.isolation.pool_probes import Leaver, Looker, StartClock

pytestmark = pytest.mark.skipif(
    find_bwrap() is None and not os.environ.get("CI"), reason="bubblewrap is not installed"
)


async def start_host(kernel: Kernel, settings: Settings, warm_pool: int) -> AgentHost:
    config = settings.agents.model_copy(update={"warm_pool": warm_pool})
    return await start_agent_host(kernel, config, data_dir=settings.data_dir)


@pytest.fixture
async def warm_host(model_kernel: Kernel, settings: Settings) -> AsyncIterator[AgentHost]:
    host = await start_host(model_kernel, settings, warm_pool=1)
    yield host
    await host.agents.close()
    await host.close()


def pool_of(host: AgentHost) -> WarmPool:
    assert host.agents.pool is not None
    return host.agents.pool


async def run(
    kernel: Kernel, host: AgentHost, agent: type[Agent], task: str, owner: str
) -> tuple[float, ProcessRecord]:
    spawned = time.time()
    record = await kernel.wait(await spawn_agent(kernel, agent, task, host=host, owner=owner))
    assert record.state == ProcessState.DONE, record.error
    return spawned, record


async def test_a_spawn_takes_a_started_sandbox_whose_home_is_its_work_dir(
    model_kernel: Kernel, warm_host: AgentHost, settings: Settings
) -> None:
    pool = pool_of(warm_host)
    await run(model_kernel, warm_host, StartClock, "first", "alice")  # cold: the pool starts filling
    await until(lambda: pool.ready() == 1, "a warm sandbox")
    spawned, record = await run(model_kernel, warm_host, StartClock, "second", "alice")
    got = json.loads(record.result or "")
    assert got["started"] < spawned, "the agent ran in a process started before its spawn"
    assert (model_kernel.workdir(record.pid) / "here.txt").read_text() == "second"
    # its commands run as it does (a warm uid, lent while it ran), with its home: they read what it wrote
    assert got["shell"].split() == ["second", str(got["uid"])], got
    assert got["home"] == SANDBOX_HOME
    assert (got["nice"], got["lower_nice"]) == (settings.agents.nice, "refused")
    if switching():
        assert got["uid"] in range(WARM_BASE, WARM_BASE + WARM_UIDS)
        assert for_process(record.pid).uid != got["uid"], "given back with its sandbox"
    await until(lambda: pool.ready() == 1, "the pool refilled")


async def test_a_sandbox_handed_to_another_user_holds_nothing_of_the_agent_before(
    model_kernel: Kernel, warm_host: AgentHost
) -> None:
    """Alice's agent leaves files, a variable, a process and its token; Bob's, in a sandbox that waited
    while hers ran, finds none of them, and her token opens nothing."""
    pool = pool_of(warm_host)
    await run(model_kernel, warm_host, StartClock, "start the pool", "alice")
    await until(lambda: pool.ready() == 1, "a warm sandbox")
    _, alices = await run(model_kernel, warm_host, Leaver, "alice's notes", "alice")
    left = json.loads(alices.result or "")
    await until(lambda: pool.ready() == 1, "a warm sandbox")
    spawned, bobs = await run(model_kernel, warm_host, Looker, json.dumps({"token": left["token"]}), "bob")
    found = json.loads(bobs.result or "")
    assert left["started"] < spawned and found["started"] < spawned, "both ran in warm sandboxes"
    # /tmp holds only the mount points of what every sandbox binds (a project or checkout under /tmp)
    assert found["home"] == [] and "left.txt" not in found["tmp"] and found["environ"] == []
    assert found["files_with_token"] == []
    assert not [p for p in found["processes"] if "sleep" in p], found["processes"]
    assert found["earlier_token"] == 401
    assert (model_kernel.workdir(alices.pid) / "notes.txt").is_file()  # hers, where only she looks
    if switching():
        assert found["uid"] != left["uid"]


async def test_a_sandbox_older_than_the_import_path_is_started_again(
    model_kernel: Kernel, warm_host: AgentHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder added to the import path after the warm sandbox started: a cold start would show it, so
    the spawn starts one (the pool's check is what a start would make now, nothing weaker)."""
    pool = pool_of(warm_host)
    await run(model_kernel, warm_host, StartClock, "first", "alice")
    await until(lambda: pool.ready() == 1, "a warm sandbox")
    stale = pool._ready[0]
    added = tmp_path / "added-project"
    added.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(added)])
    spawned, record = await run(model_kernel, warm_host, StartClock, "second", "alice")
    assert json.loads(record.result or "")["started"] > spawned - 0.05
    assert stale.proc.returncode is not None and not stale.home.exists()


async def test_closing_stops_the_waiting_sandboxes_and_removes_their_homes(
    model_kernel: Kernel, settings: Settings
) -> None:
    host = await start_host(model_kernel, settings, warm_pool=2)
    try:
        await run(model_kernel, host, StartClock, "first", "alice")
        pool = pool_of(host)
        await until(lambda: pool.ready() == 2, "two warm sandboxes")
        members = list(pool._ready)
        await host.agents.close()
    finally:
        await host.close()
    assert all(m.proc.returncode is not None and not alive(m.proc.pid) for m in members)
    assert list((settings.data_dir / "warm").iterdir()) == []
    assert not pool.ready()


async def test_no_pool_starts_each_agent_after_its_spawn(model_kernel: Kernel, settings: Settings) -> None:
    host = await start_host(model_kernel, settings, warm_pool=0)
    try:
        assert host.agents.pool is None
        spawned, record = await run(model_kernel, host, StartClock, "cold", "alice")
    finally:
        await host.close()
    got = json.loads(record.result or "")
    assert got["started"] > spawned - 0.05
    # it started at full priority, and its code runs at the agents' niceness, for good
    assert (got["nice"], got["lower_nice"]) == (settings.agents.nice, "refused")


@pytest.mark.skipif(not switching(), reason="only root lends sandboxes uids of their own")
def test_a_warm_uid_is_lent_to_one_sandbox_at_a_time() -> None:
    first = lend()
    assert first is not None and first.uid in range(WARM_BASE, WARM_BASE + WARM_UIDS)
    try:
        assert lend(first.uid) is None, "lent twice"
        assert lend(for_process(7).uid) is None, "a process's own uid is never lent"
    finally:
        release(first)
    again = lend(first.uid)
    assert again == first
    release(again)
