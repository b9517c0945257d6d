"""`aios mcp serve --agent NAME`: the kernel's tools over MCP on stdin/stdout, for a desktop assistant or an
IDE that launches its servers as commands.

With a daemon running on this data dir it relays to the daemon's `/mcp/<agent>` (one kernel, one audit log,
approvals in the dashboard and `aios approvals`); without one it boots a kernel of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from aios import __version__
from aios.agent_catalog import manifest_reader
from aios.api.lease import Leases
from aios.boot import boot
from aios.config import Settings
from aios.kernel.contracts import Program
from aios.kernel.errors import UserError
from aios.mcp_serve import build_server

logger = logging.getLogger(__name__)

RELAY_READ_TIMEOUT_S = 3600.0
"""A relayed call may wait this long for an answer: a destructive one waits on a human's approval."""


async def serve_local(settings: Settings, agent: str, *, cwd: Path) -> None:
    """Boot a kernel, give the agent a process, and serve its tools until the client closes stdin."""
    kernel = await boot(settings, cwd=cwd, preload=False)
    leases: Leases[str] = Leases(kernel, idle_s=None)
    try:
        manifest = await manifest_reader(settings)(agent)

        async def start(program: Program) -> int:
            return await kernel.spawn(
                program,
                agent=manifest.name,
                task="tools over MCP (stdio)",
                capabilities=list(manifest.capabilities),
                owner=settings.owner,
            )

        lease = await leases.hold(None, start)

        async def caller() -> int:
            return lease.pid

        try:
            await _run_stdio(build_server(kernel, caller))
        finally:
            lease.end("the MCP client closed the connection")
        await kernel.wait(lease.pid)
    finally:
        await leases.aclose()
        await kernel.shutdown()


async def serve_relay(socket: Path, token: str, agent: str) -> None:
    """Relay stdio MCP to the daemon's streamable HTTP endpoint over its Unix socket."""
    client = httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=str(socket)),
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(30.0, read=RELAY_READ_TIMEOUT_S),
    )
    url = f"http://aios/mcp/{agent}"
    async with client:
        # a refusal (unknown agent, revoked token) is said in words here, not as a broken MCP session
        ping = {"jsonrpc": "2.0", "id": 0, "method": "ping"}
        probe = await client.post(url, json=ping, headers={"Accept": "application/json, text/event-stream"})
        if probe.status_code in (401, 403, 404):
            message = probe.json()["error"]["message"]  # MCP's shape: a JSON-RPC error
            raise UserError(f"the daemon refused {url.removeprefix('http://aios')}: {message}")
        await _relay(client, url)


async def _relay(client: httpx.AsyncClient, url: str) -> None:
    async with (
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        server: Server[Any, Any] = Server("aios", version=__version__)

        @server.list_tools()
        async def list_tools() -> list[types.Tool]:
            return (await session.list_tools()).tools

        @server.call_tool(validate_input=False)
        async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
            return await session.call_tool(name, arguments)

        await _run_stdio(server)


async def _run_stdio(server: Server[Any, Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
