"""The kernel's tools over MCP: the daemon's `/mcp/<agent>` and `aios mcp serve`, driven by the official
`mcp` client as a desktop assistant or an IDE would (in-process: the endpoint is stateless, every answer
whole; `aios mcp serve` over stdio and the daemon's socket)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.kernel.approvals import ApprovalPolicy, PolicyRule
from aios.kernel.events import KernelEvent
from aios.kernel.store import ProcessStore
from aios.tools.sandbox_user import for_process
from tests.daemon.conftest import asgi_client, user_token
from tests.fakes import until


@asynccontextmanager
async def mcp_session(daemon: Daemon, agent: str, token: str) -> AsyncIterator[ClientSession]:
    async with (
        asgi_client(daemon, token) as http,
        streamable_http_client(f"http://aios/mcp/{agent}", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@pytest.fixture
async def daemon(daemon_settings: Settings, tmp_path: Path, agents_dist: Path) -> AsyncIterator[Daemon]:
    """A daemon of its own engine, never loaded (tools only): a test may stop it, engines included."""
    running = await start_daemon(daemon_settings, cwd=tmp_path, preload=False)
    yield running
    await running.close()


@pytest.fixture
def daemon_settings(settings: Settings) -> Settings:
    """Removing anything asks a human first (a rule, so the sandboxed shell serves as the risky tool)."""
    approvals = ApprovalPolicy(
        rules=[PolicyRule(tool="shell.exec", arguments={"cmd": "rm *"}, decision="ask")]
    )
    daemon = settings.daemon.model_copy(update={"port": 0})
    return settings.model_copy(update={"daemon": daemon, "approvals": approvals})


async def test_an_mcp_client_lists_and_calls_the_agents_tools_as_a_process_of_its_user(
    daemon: Daemon,
) -> None:
    alice = user_token(daemon, "alice")
    async with mcp_session(daemon, "react", alice) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert sorted(tools) == ["shell__exec"]  # the react agent's manifest: llm and shell.exec only
        shell = tools["shell__exec"]
        assert shell.annotations is not None and shell.annotations.readOnlyHint is False
        assert "cmd" in shell.inputSchema["properties"]

        echoed = await session.call_tool("shell__exec", {"cmd": "echo over-mcp; id -u"})
        assert not echoed.isError, echoed.content
        assert echoed.structuredContent is not None
        said, uid = echoed.structuredContent["stdout"].split()
        [process] = [p for p in daemon.kernel.table.all_live() if p.record.agent == "react"]
        assert (said, int(uid)) == ("over-mcp", for_process(process.record.pid).inside)  # in its sandbox

        bad = await session.call_tool("shell__exec", {"command": "ls"})
        assert bad.isError
        assert "InvalidSyscall: bad arguments for shell.exec" in bad.content[0].text  # type: ignore[union-attr]
        unknown = await session.call_tool("browser__open", {"url": "http://127.0.0.1/"})
        assert unknown.isError and "no tool 'browser__open'" in unknown.content[0].text  # type: ignore[union-attr]

    records = [p for p in daemon.kernel.table.all_live() if p.record.agent == "react"]
    assert [(p.record.owner, p.record.capabilities) for p in records] == [("alice", ["llm", "shell.exec"])]
    await asyncio.to_thread(daemon.kernel.store.flush)
    rows = await asyncio.to_thread(daemon.kernel.store.audit, pid=records[0].pid, limit=10)
    assert sorted(r.status for r in rows if r.target == "shell.exec") == ["error", "ok"]


async def test_each_user_gets_their_own_process_and_strangers_are_refused(daemon: Daemon) -> None:
    tokens = {user: user_token(daemon, user) for user in ("alice", "bob")}
    for token in tokens.values():
        async with mcp_session(daemon, "react", token) as session:
            done = await session.call_tool("shell__exec", {"cmd": "true"})
            assert not done.isError
    owners = sorted(p.record.owner for p in daemon.kernel.table.all_live() if p.record.agent == "react")
    assert owners == ["alice", "bob"]

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with asgi_client(daemon) as http:
        anonymous = await http.post("/mcp/react", json=body, headers=headers)
        forged = await http.post("/mcp/react", json=body, headers={**headers, "Authorization": "Bearer x"})
        bobs = {**headers, "Authorization": f"Bearer {tokens['bob']}"}
        unknown = await http.post("/mcp/no-such-agent", json=body, headers=bobs)
        importing = await http.post("/mcp/os:system", json=body, headers=bobs)
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for refused in (anonymous, forged, unknown, importing):  # MCP's own shape: a JSON-RPC error
        assert refused.json()["jsonrpc"] == "2.0" and refused.json()["error"]["code"] == -32600
    assert unknown.status_code == 404 and "no-such-agent" in unknown.json()["error"]["message"]
    assert importing.status_code == 404

    pids = [p.pid for p in daemon.kernel.table.all_live() if p.record.agent == "react"]
    await daemon.close()  # the sessions' processes end as finished work, not killed
    assert {(daemon.kernel.process(pid).state.value, daemon.kernel.process(pid).result) for pid in pids} == {
        ("done", "the daemon stopped")
    }


async def test_a_risky_call_waits_for_a_human_and_runs_only_if_approved(
    daemon: Daemon, tmp_path: Path
) -> None:
    requested: list[KernelEvent] = []
    daemon.kernel.subscribe(lambda e: requested.append(e) if e.kind == "approval_requested" else None)
    token = user_token(daemon, "alice")
    async with mcp_session(daemon, "react", token) as session:
        asked = asyncio.create_task(session.call_tool("shell__exec", {"cmd": "rm -f /workspace/nothing"}))
        await until(lambda: len(requested) == 1, "the approval request")
        assert not asked.done()
        await daemon.kernel.decide(int(requested[0].detail["approval"]), True, by="alice")
        approved = await asyncio.wait_for(asked, 30)
        assert not approved.isError, approved.content

        asked = asyncio.create_task(session.call_tool("shell__exec", {"cmd": "rm -rf /workspace"}))
        await until(lambda: len(requested) == 2, "the second approval request")
        await daemon.kernel.decide(int(requested[1].detail["approval"]), False, by="alice", reason="no")
        denied = await asyncio.wait_for(asked, 30)
        assert denied.isError and "ApprovalDenied" in denied.content[0].text  # type: ignore[union-attr]


def serve_command(settings: Settings, config: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env["AIOS_DATA_DIR"] = str(settings.data_dir)
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "aios", "-c", str(config), "mcp", "serve", "--agent", "react"],
        env=env,
    )


async def test_aios_mcp_serve_on_stdio_boots_its_own_kernel_when_no_daemon_runs(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        stdio_client(serve_command(settings, tmp_path / "config.toml")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert [t.name for t in (await session.list_tools()).tools] == ["shell__exec"]
        echoed = await session.call_tool("shell__exec", {"cmd": "echo from-stdio"})
        assert not echoed.isError and "from-stdio" in echoed.content[0].text  # type: ignore[union-attr]
    store = ProcessStore(settings.db_url)
    try:
        [process] = store.list_processes(limit=10)
        assert (process.agent, process.state.value) == ("react", "done")
        assert [r.target for r in store.audit(pid=process.pid, limit=10) if r.kind == "tool"] == [
            "shell.exec"
        ]
    finally:
        store.close()


async def test_aios_mcp_serve_on_stdio_relays_to_the_running_daemon(
    daemon: Daemon, daemon_settings: Settings, tmp_path: Path
) -> None:
    async with (
        stdio_client(serve_command(daemon_settings, tmp_path / "config.toml")) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        echoed = await session.call_tool("shell__exec", {"cmd": "echo relayed"})
        assert not echoed.isError and "relayed" in echoed.content[0].text  # type: ignore[union-attr]
    # the call ran in the daemon's kernel, as a process of the daemon's own user
    [process] = [p.record for p in daemon.kernel.table.all_live() if p.record.agent == "react"]
    assert process.owner == daemon_settings.owner


async def test_aios_mcp_serve_says_in_words_when_the_daemon_refuses_the_agent(
    daemon: Daemon, daemon_settings: Settings, tmp_path: Path
) -> None:
    command = serve_command(daemon_settings, tmp_path / "config.toml")
    args = [a if a != "react" else "no-such-agent" for a in command.args]
    proc = await asyncio.create_subprocess_exec(
        command.command,
        *args,
        env=command.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and out == b""
    assert "the daemon refused /mcp/no-such-agent: no agent named 'no-such-agent'" in " ".join(
        err.decode().split()
    )
