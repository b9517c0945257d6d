"""Agents in their own sandboxed processes: the same behaviour as in-process, and nothing more."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from aios.boot import boot, spawn_agent
from aios.config import Settings
from aios.isolation.host import AgentHost, start_agent_host
from aios.kernel.engines.local import LocalEngine
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.sandbox import find_bwrap
from tests.fakes import until
from tests.isolation.probe_agents import (
    Burglar,
    Crasher,
    Deaf,
    Flooder,
    GarbageSender,
    Quitter,
    Sleeper,
    TraceProbe,
)

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
    model_kernel: Kernel, host: AgentHost
) -> None:
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
    assert got["uid"] == 65534


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
