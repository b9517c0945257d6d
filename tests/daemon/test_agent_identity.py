"""An installed agent is named by its entry point: a package cannot make its agent another one by saying so
in its manifest, nor by installing a name another package already installs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.daemon import Daemon
from tests.daemon.conftest import asgi_client, install_agents, user_token


@pytest.fixture
def second_sleeper(tmp_path: Path) -> Iterator[Path]:
    """Another package that installs an agent called `sleeper` too."""
    root = install_agents(
        tmp_path / "other-site", "aios-other-agents", {"sleeper": "tests.isolation.probe_agents:Counter"}
    )
    sys.path.append(str(root))
    yield root
    sys.path.remove(str(root))


async def test_an_agent_whose_manifest_claims_another_name_is_refused_and_reads_nothing(
    fake_daemon: Daemon,
) -> None:
    """`spoof` says `name="diary"`: it used to run as agent diary and recall the diary agent's memory."""
    memory = fake_daemon.kernel.memory
    assert memory is not None
    memory.store.add(user="alice", agent="diary", tier="long", kind="fact", text="My diary secret is 4711")
    memory.indexer.poke()
    await memory.settle()
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice:
        spawned = await alice.post("/v1/processes", json={"agent": "spoof", "task": "diary secret"})
        listed = {a["name"]: a for a in (await alice.get("/v1/agents")).json()}
    assert spawned.status_code == 403, spawned.text
    assert spawned.json()["title"] == "PermissionDenied"
    assert "'spoof'" in spawned.json()["detail"] and "calls itself 'diary'" in spawned.json()["detail"]
    fake_daemon.kernel.store.flush()
    assert fake_daemon.kernel.store.list_processes(limit=10) == [], "no process was started"
    assert listed["spoof"]["manifest"] is None and "calls itself 'diary'" in listed["spoof"]["error"]
    assert listed["spoof"]["packages"] == ["aios-test-agents 0.1.0"]


async def test_a_name_two_packages_install_is_flagged_and_refused(
    fake_daemon: Daemon, second_sleeper: Path
) -> None:
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice:
        listed = {a["name"]: a for a in (await alice.get("/v1/agents")).json()}
        spawned = await alice.post("/v1/processes", json={"agent": "sleeper", "task": ""})
    sleeper = listed["sleeper"]
    assert sorted(sleeper["packages"]) == ["aios-other-agents 0.1.0", "aios-test-agents 0.1.0"]
    assert sleeper["manifest"] is None and "installed by 2 packages" in sleeper["error"]
    assert spawned.status_code == 403 and "installed by 2 packages" in spawned.json()["detail"]
    assert listed["react"]["manifest"]["name"] == "react", "the other agents are unaffected"
