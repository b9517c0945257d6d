"""`/mcp/<agent>` on the daemon: the kernel's tools over MCP's streamable HTTP, for a desktop assistant or an
IDE, as one kernel process per user and agent (its capabilities, approvals and audit rows)."""

from __future__ import annotations

import asyncio
import logging
import re

from fastapi import FastAPI, HTTPException, Request
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.types import Receive, Scope, Send

from aios.agent_launch import AgentSandboxes, read_manifest
from aios.api.auth import principal
from aios.api.grants import UserGrants
from aios.api.lease import Lease, Leases
from aios.api.tokens import Principal
from aios.kernel.contracts import KernelAPI, Program
from aios.kernel.errors import AiosError
from aios.mcp_serve import build_server

logger = logging.getLogger(__name__)

IDLE_S = 600.0
"""A user's MCP process for an agent ends after this long without a request (a new one starts on demand)."""
AGENT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,99}")
PID_KEY = "aios.mcp.pid"
"""Where the endpoint leaves the calling process in the request's scope for the MCP handlers."""


class Mcp:
    """The MCP family: authenticates like every route, holds the user's process for the agent as a lease,
    and hands the request to the MCP session manager (stateless: every request stands alone, so clients may
    reconnect). Refusals are answered in MCP's own shape: a JSON-RPC error."""

    def __init__(
        self, kernel: KernelAPI, grants: UserGrants, host: AgentSandboxes | None, *, idle_s: float = IDLE_S
    ) -> None:
        self.kernel = kernel
        self.grants = grants
        self.host = host
        self.leases: Leases[tuple[str, str]] = Leases(kernel, idle_s=idle_s)
        server = build_server(kernel, self._caller)
        self.manager = StreamableHTTPSessionManager(app=server, stateless=True)
        self._server = server
        self._running: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._stop = asyncio.Event()

    def mount(self, app: FastAPI) -> None:
        app.add_route("/mcp/{agent}", self, methods=["GET", "POST", "DELETE"])  # an ASGI app of its own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            who = await principal(Request(scope))
        except HTTPException as e:
            await _refuse(send, e.status_code, str(e.detail), e.headers)
            return
        agent = scope["path_params"]["agent"]
        if not AGENT_NAME.fullmatch(agent):  # installed agents only, never a `module:Class` to import
            await _refuse(send, 404, f"no agent named {agent!r}")
            return
        try:
            lease = await self._hold(who, agent)
        except AiosError as e:
            await _refuse(send, 404, str(e))
            return
        await self._start()
        with lease.using():
            await self.manager.handle_request({**scope, PID_KEY: lease.pid}, receive, send)

    async def _caller(self) -> int:
        request = self._server.request_context.request
        assert request is not None, "the daemon's MCP handlers run inside an HTTP request"
        pid: int = request.scope[PID_KEY]
        return pid

    async def _hold(self, who: Principal, agent: str) -> Lease:
        """The user's live process for `agent`, spawned with the agent's manifest capabilities (cut to what
        an admin granted the user) if none."""

        async def start(program: Program) -> int:
            manifest = await read_manifest(agent, self.host)
            capabilities = await asyncio.to_thread(self.grants.narrow, who, manifest.capabilities)
            return await self.kernel.spawn(
                program, agent=manifest.name, task="tools over MCP", capabilities=capabilities, owner=who.user
            )

        return await self.leases.hold((who.user, agent), start)

    async def _start(self) -> None:
        """Run the session manager's task group for the daemon's life (its server runs with lifespan off)."""
        if self._running is None:
            self._running = asyncio.create_task(self._run(), name="aios-mcp-endpoint")
        await self._started.wait()

    async def _run(self) -> None:
        async with self.manager.run():
            self._started.set()
            await self._stop.wait()

    async def aclose(self) -> None:
        """Stop serving: the processes end `done`, the session manager's tasks are cancelled."""
        self._stop.set()
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        await self.leases.aclose()


async def _refuse(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """An HTTP-level refusal as MCP's transport answers them: a JSON-RPC error without a request id."""
    body = JSONRPCError(
        jsonrpc="2.0", id="server-error", error=ErrorData(code=INVALID_REQUEST, message=message)
    ).model_dump_json(by_alias=True, exclude_none=True)
    raw: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body.encode()})
