"""Agents in their own sandboxed processes: the same behaviour as in-process, and nothing more."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from aios.agent_host import AgentHost, start_agent_host
from aios.agent_launch import spawn_agent
from aios.boot import boot
from aios.config import Settings
from aios.kernel.engines.local import LocalEngine
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.cgroups import detect
from aios.tools.sandbox import find_bwrap
from aios.tools.sandbox_user import for_process
from tests.fakes import until
from tests.isolation.probe_agents import (
    Burglar,
    Crasher,
    Deaf,
    Flooder,
    ForkBomber,
    GarbageSender,
    Napper,
    Quitter,
    SecretReader,
    Sleeper,
    TraceProbe,
)
from tests.kernel.helpers import prefixes_unshared
from tests.sandbox_bounds import unavailable

pytestmark = pytest.mark.skipif(
    find_bwrap() is None and not os.environ.get("CI"), reason="bubblewrap is not installed"
)


@pytest.fixture
async def host(model_kernel: Kernel, settings: Settings) -> AsyncIterator[AgentHost]:
    agent_host = await start_agent_host(model_kernel, settings.agents, data_dir=settings.data_dir)
    yield agent_host
    await agent_host.close()


def trace(kernel: Kernel, pid: int) -> list[tuple[str, str, str, int, int]]:
    kernel.store.flush()
    return [(r.kind, r.target, r.status, r.tokens_in, r.tokens_out) for r in kernel.store.audit(pid=pid)]


async def test_one_agent_in_process_and_isolated_makes_the_same_syscalls(
    model_kernel: Kernel, host: AgentHost, local_engine: LocalEngine
) -> None:
    with prefixes_unshared(local_engine):  # the same greedy answer needs the same start
        inside = await model_kernel.wait(await spawn_agent(model_kernel, TraceProbe, "Say hi"))
        isolated = await model_kernel.wait(await spawn_agent(model_kernel, TraceProbe, "Say hi", host=host))
    assert inside.state == isolated.state == ProcessState.DONE, (inside.error, isolated.error)
    assert trace(model_kernel, inside.pid) == trace(model_kernel, isolated.pid)
    assert len(trace(model_kernel, isolated.pid)) == 5  # noop, shell, denied browser, invalid shell, llm
    assert isolated.result == inside.result
    outcomes = json.loads(isolated.result or "")
    assert outcomes["browser"] == "PermissionDenied" and outcomes["invalid"] == "InvalidSyscall"
    assert outcomes["caps"] == [True, False] and outcomes["tools"] == ["shell.exec"]


async def test_an_installed_agent_runs_isolated_by_name(model_kernel: Kernel, host: AgentHost) -> None:
    pid = await spawn_agent(model_kernel, "chat", "Say hi", host=host)
    record = await model_kernel.wait(pid)
    assert record.state == ProcessState.DONE and record.agent == "chat" and record.result
    assert record.llm_calls == 1 and record.tokens_out > 0


async def test_a_strangers_agent_cannot_read_files_widen_its_rights_or_reach_the_network(
    model_kernel: Kernel, settings: Settings, tmp_path: Path
) -> None:
    """The default spawn path (`aios run`): these attacks worked when agents ran inside the kernel."""
    assert settings.agents.isolation == "process"
    secret = Path.home() / f".aios-test-secret-{os.getpid()}"
    secret.write_text("the user's private key")
    server = socket.create_server(("127.0.0.1", 0))
    agent_host = await start_agent_host(model_kernel, settings.agents, data_dir=settings.data_dir)
    try:
        task = json.dumps({"secret": str(secret), "port": server.getsockname()[1]})
        pid = await spawn_agent(model_kernel, Burglar, task, host=agent_host)
        record = await model_kernel.wait(pid)
    finally:
        await agent_host.close()
        server.close()
        secret.unlink()
    assert record.state == ProcessState.DONE, record.error
    got = json.loads(record.result or "")
    assert got["secret"].startswith("refused") and "widened" not in got
    assert got["browser_cap"] is False and model_kernel.process(pid).capabilities == ["llm", "shell.exec"]
    assert got["network"].startswith("refused")
    assert not [name for name in got["environ"] if "KEY" in name or name.startswith("AIOS")]
    assert got["uid"] == for_process(pid).inside


async def test_in_process_the_same_attacks_succeed(model_kernel: Kernel) -> None:
    """Why agents are isolated by default: inside the kernel, the manifest binds only polite code."""
    secret = Path.home() / f".aios-test-secret-{os.getpid()}"
    secret.write_text("the user's private key")
    server = socket.create_server(("127.0.0.1", 0))
    try:
        task = json.dumps({"secret": str(secret), "port": server.getsockname()[1]})
        record = await model_kernel.wait(await spawn_agent(model_kernel, Burglar, task))
    finally:
        server.close()
        secret.unlink()
    got = json.loads(record.result or "")
    assert got["secret"] == "the user's private key" and got["browser_cap"] is True


@pytest.mark.parametrize("how", ["raise", "crash"])
async def test_a_failing_agent_process_is_failed_with_its_output_kept_and_others_go_on(
    model_kernel: Kernel, host: AgentHost, settings: Settings, how: str
) -> None:
    bystander = await spawn_agent(model_kernel, TraceProbe, "Say hi", host=host)
    pid = await spawn_agent(model_kernel, Crasher, how, host=host)
    record = await model_kernel.wait(pid)
    assert record.state == ProcessState.FAILED
    if how == "raise":
        assert record.error == "ValueError: the agent gave up"
        assert record.traceback and "probe_agents.py" in record.traceback
    else:
        assert "exited with code 7" in (record.error or "") and "about to crash" in (record.error or "")
        assert (settings.data_dir / "logs" / f"{pid}.log").read_text() == "about to crash\n"
    assert (await model_kernel.wait(bystander)).state == ProcessState.DONE


async def test_killing_an_agent_process_stops_it_and_revokes_its_token(
    model_kernel: Kernel, host: AgentHost
) -> None:
    pid = await spawn_agent(model_kernel, Sleeper, "", host=host)
    await until(
        lambda: model_kernel.process(pid).started_at and pid in host.agents.channels.open_pids(), "start"
    )
    model_kernel.store.flush()
    await until(lambda: _noop_seen(model_kernel, pid), "its first syscall")
    record = await model_kernel.kill(pid)
    assert record.state == ProcessState.KILLED
    assert host.agents.channels.open_pids() == []
    assert not _sandboxes_of(host), "the agent's sandbox is still running"


def _noop_seen(kernel: Kernel, pid: int) -> bool:
    kernel.store.flush()
    return any(r.kind == "noop" for r in kernel.store.audit(pid=pid))


def _sandboxes_of(host: AgentHost) -> list[int]:
    """OS processes whose command line names this host's socket (bubblewrap's, and the agent's own)."""
    marker = str(host.agents.socket).encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_a_flood_of_syscalls_is_refused_past_the_limit(
    settings: Settings, tmp_path: Path, local_engine: LocalEngine
) -> None:
    kernel = await boot(settings, cwd=tmp_path)
    config = settings.agents.model_copy(update={"max_inflight_syscalls": 4})
    agent_host = await start_agent_host(kernel, config, data_dir=settings.data_dir)
    try:
        record = await kernel.wait(await spawn_agent(kernel, Flooder, "12", host=agent_host))
    finally:
        await agent_host.close()
        await kernel.shutdown()
    got = json.loads(record.result or "")
    assert got["refused"] + got["done"] == 12 and got["refused"] >= 1 and got["done"] >= 4


async def test_the_agent_socket_refuses_other_tokens_and_garbage(
    model_kernel: Kernel, host: AgentHost
) -> None:
    transport = httpx.AsyncHTTPTransport(uds=str(host.agents.socket))
    async with httpx.AsyncClient(transport=transport, base_url="http://aios") as client:
        none = await client.post("/v1/syscalls", json={"kind": "noop"})
        forged = await client.post(
            "/v1/syscalls", json={"kind": "noop"}, headers={"Authorization": "Bearer aiosp_forged"}
        )
        user = await client.post(
            "/v1/syscalls", json={"kind": "noop"}, headers={"Authorization": "Bearer aiosu_x"}
        )
    assert none.status_code == 401 and none.headers["content-type"] == "application/problem+json"
    assert forged.status_code == 401 and "revoked" in forged.json()["detail"]
    assert user.status_code == 403
    record = await model_kernel.wait(await spawn_agent(model_kernel, GarbageSender, "", host=host))
    statuses = json.loads(record.result or "")
    assert statuses == {
        "garbage": [422, "InvalidSyscall"],
        "list": [422, "InvalidSyscall"],
        "reboot": [422, "InvalidSyscall"],
        "noop": [200, "noop"],
    }
    model_kernel.store.flush()
    assert [r.kind for r in model_kernel.store.audit(pid=record.pid)] == ["invalid", "noop"]


async def test_agents_that_never_read_replies_or_quit_mid_call_do_not_hold_up_others(
    model_kernel: Kernel, host: AgentHost
) -> None:
    deaf = await spawn_agent(model_kernel, Deaf, "5000", host=host)
    quitter = await spawn_agent(model_kernel, Quitter, "", host=host)
    bystander = await spawn_agent(model_kernel, TraceProbe, "Say hi", host=host)
    assert (await model_kernel.wait(bystander)).state == ProcessState.DONE
    quit_record = await model_kernel.wait(quitter)
    assert quit_record.state == ProcessState.FAILED and "exited with code 3" in (quit_record.error or "")
    model_kernel.store.flush()
    [cut] = [r for r in model_kernel.store.audit(pid=quitter) if r.kind == "tool"]
    assert cut.status == "killed"  # its call was cancelled when it went: the sleep did not run on
    deaf_record = await model_kernel.wait(deaf)
    assert deaf_record.state == ProcessState.DONE, deaf_record.error
    assert 0 < int(deaf_record.result or "0") <= 5000


async def test_an_agent_that_works_a_minute_between_syscalls_goes_on_and_no_syscall_runs_twice(
    model_kernel: Kernel, host: AgentHost
) -> None:
    """The server closes a connection idle for 5 s; blocking work of 6 s and of 60 s used to end the agent
    with BrokenPipeError at its next syscall."""
    minute = json.dumps({"naps": ["block"], "seconds": 60})
    short = json.dumps({"naps": ["block", "await"], "seconds": 6})
    pids = [await spawn_agent(model_kernel, Napper, task, host=host) for task in (minute, short)]
    records = [await model_kernel.wait(pid) for pid in pids]
    assert [r.state for r in records] == [ProcessState.DONE] * 2, [r.error for r in records]
    assert [r.result for r in records] == ["1", "2"], "each nap's command ran exactly once"


async def test_an_agent_cannot_start_more_processes_than_its_bound_and_others_go_on(
    settings: Settings, tmp_path: Path, local_engine: LocalEngine
) -> None:
    """It used to start 2,000 of 2,000: a cgroup's pids.max (where the machine gives aios cgroups) and
    RLIMIT_NPROC of its own uid (where aios runs as root) now stop it."""
    if detect()[0] is None and not for_process(1).switched:
        unavailable("this machine gives aios neither cgroups nor other uids")
    kernel = await boot(settings, cwd=tmp_path)
    kernel.engines.register("local", local_engine)
    config = settings.agents.model_copy(update={"max_processes": 48})
    agent_host = await start_agent_host(kernel, config, data_dir=settings.data_dir)
    try:
        bomb = await spawn_agent(kernel, ForkBomber, "2000", host=agent_host)
        bystander = await spawn_agent(kernel, TraceProbe, "Say hi", host=agent_host)
        records = [await kernel.wait(bomb), await kernel.wait(bystander)]
    finally:
        await agent_host.close()
        await kernel.shutdown(close_engines=False)
    assert [r.state for r in records] == [ProcessState.DONE] * 2, [r.error for r in records]
    got = json.loads(records[0].result or "")
    assert 0 < got["started"] < 48 and "Resource temporarily unavailable" in got["refusal"], got


@pytest.fixture
def root_secrets(tmp_path: Path) -> Iterator[list[Path]]:
    """Root-only files where a system keeps its secrets, and one in the user's own folder (the kernel's
    cwd): a mask list cannot know them all, so file modes must protect them."""
    made_dir = not Path("/etc/ssl/private").exists()
    Path("/etc/ssl/private").mkdir(parents=True, exist_ok=True, mode=0o700)
    places = [
        Path(f"/etc/ssl/private/aios-test-{os.getpid()}.key"),
        Path(f"/etc/default/aios-test-{os.getpid()}"),
        tmp_path / "deploy-notes.txt",
    ]
    for place in places:
        place.write_text("root's secret")
        place.chmod(0o600)
    yield places
    for place in places:
        place.unlink()
    if made_dir:
        Path("/etc/ssl/private").rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="root-only files exist only where aios runs as root")
async def test_root_only_files_are_unreadable_to_an_agent_and_its_commands(
    model_kernel: Kernel, host: AgentHost, root_secrets: list[Path]
) -> None:
    """Sandboxes mapped their uid to the daemon's: run as root, an agent's open() and a shell command both
    read root's 0600 files under the read-only /etc and the user's folder."""
    task = json.dumps([str(p) for p in root_secrets])
    record = await model_kernel.wait(await spawn_agent(model_kernel, SecretReader, task, host=host))
    assert record.state == ProcessState.DONE, record.error
    got = json.loads(record.result or "")
    for path, (mine, shell) in got.items():
        # the agent's own sandbox shows /etc, not the user's folder (only its shell commands see that)
        assert mine == "refused:PermissionError" if path.startswith("/etc") else mine.startswith("refused")
        assert "root's secret" not in shell and "Permission denied" in shell, (path, shell)


CLOSED_AGENT = """
from aios.sdk import Agent, Context, Manifest


class ClosedAgent(Agent):
    manifest = Manifest(name="closed", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        return (await ctx.tool("shell.exec", cmd="echo ran"))["stdout"].strip()
"""


async def test_an_agent_installed_in_a_folder_closed_to_others_still_runs(
    model_kernel: Kernel, host: AgentHost, tmp_path: Path
) -> None:
    """A checkout in a `mktemp -d` folder (0700): the sandbox's own uid could not enter it, and every isolated
    agent failed importing aios. Its entries are shown one by one, each with its own mode."""
    closed = tmp_path / "closed"
    info = closed / "closed_agent-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: closed-agent\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[aios.agents]\nclosed = closed_agent:ClosedAgent\n")
    (closed / "closed_agent.py").write_text(CLOSED_AGENT)
    (closed / "private.txt").write_text("only root")
    (closed / "private.txt").chmod(0o600)
    closed.chmod(0o700)
    sys.path.append(str(closed))
    try:
        record = await model_kernel.wait(await spawn_agent(model_kernel, "closed", "go", host=host))
    finally:
        sys.path.remove(str(closed))
        sys.modules.pop("closed_agent", None)
    assert record.state == ProcessState.DONE and record.result == "ran", record.error
