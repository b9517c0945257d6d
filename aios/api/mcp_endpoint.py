"""`/mcp/<agent>` on the daemon: the kernel's tools over MCP's streamable HTTP, for a desktop assistant or an
IDE, as one kernel process per user and agent (its capabilities, approvals and audit rows)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from aios.api.state import ApiState
from aios.api.tokens import Principal
from aios.api.user_routes import grants_of
from aios.boot import read_manifest
from aios.isolation.channels import PROCESS_TOKEN_PREFIX
from aios.kernel.errors import AiosError
from aios.mcp_serve import build_server

logger = logging.getLogger(__name__)

IDLE_S = 600.0
"""A user's MCP process for an agent ends after this long without a request (a new one starts on demand)."""
AGENT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,99}")
PID_KEY = "aios.mcp.pid"
"""Where the endpoint leaves the calling process in the request's scope for the MCP handlers."""


@dataclass
class _Held:
    pid: int
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0


class McpEndpoint:
    """An ASGI app: authenticates the daemon token, finds the user's process for the agent, hands the
    request to the MCP session manager (stateless: every request stands alone, so clients may reconnect)."""

    def __init__(self, state: ApiState) -> None:
        self.state = state
        server = build_server(state.kernel, self._caller)
        self.manager = StreamableHTTPSessionManager(app=server, stateless=True)
        self._server = server
        self._held: dict[tuple[str, str], _Held] = {}
        self._lock = asyncio.Lock()
        self._running: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._stop = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        users = self.state.users
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token.startswith(PROCESS_TOKEN_PREFIX) or users is None:
            await _answer(send, 401, "send 'Authorization: Bearer <user token>' (a daemon token)")
            return
        who = users.check(token)
        if who is None:
            await _answer(send, 401, "unknown, expired or revoked token")
            return
        agent = scope["path_params"]["agent"]
        if not AGENT_NAME.fullmatch(agent):  # installed agents only, never a `module:Class` to import
            await _answer(send, 404, f"no agent named {agent!r}")
            return
        try:
            held = await self._hold(who, agent)
        except AiosError as e:
            await _answer(send, 404, str(e))
            return
        await self._start()
        held.in_flight += 1
        try:
            await self.manager.handle_request({**scope, PID_KEY: held.pid}, receive, send)
        finally:
            held.in_flight -= 1
            held.last_used = time.monotonic()

    async def _caller(self) -> int:
        request = self._server.request_context.request
        assert request is not None, "the daemon's MCP handlers run inside an HTTP request"
        pid: int = request.scope[PID_KEY]
        return pid

    async def _hold(self, who: Principal, agent: str) -> _Held:
        """The user's live process for `agent`, spawned with the agent's manifest capabilities (cut to what
        an admin granted the user) if none."""
        user = who.user
        key = (user, agent)
        async with self._lock:
            held = self._held.get(key)
            if held is not None and not self.state.kernel.process(held.pid).state.is_terminal:
                held.last_used = time.monotonic()
                return held
            manifest = await read_manifest(agent, self.state.host)
            narrow = grants_of(self.state).narrow
            capabilities = await asyncio.to_thread(narrow, who, manifest.capabilities)
            held = _Held(pid=-1)

            async def program(pid: int) -> str:
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), timeout=IDLE_S / 4)
                    if held.in_flight == 0 and time.monotonic() - held.last_used >= IDLE_S:
                        return "idle: the MCP client made no request for a while"
                return "the daemon stopped"

            held.pid = await self.state.kernel.spawn(
                program,
                agent=manifest.name,
                task="tools over MCP",
                capabilities=capabilities,
                owner=user,
            )
            self._held[key] = held
            return held

    async def _start(self) -> None:
        """Run the session manager's task group for the daemon's life (its server runs with lifespan off)."""
        if self._running is None:
            self._running = asyncio.create_task(self._run(), name="aios-mcp-endpoint")
        await self._started.wait()

    async def _run(self) -> None:
        async with self.manager.run():
            self._started.set()
            await self._stop.wait()

    async def close(self) -> None:
        """Stop serving: the processes end `done`, the session manager's tasks are cancelled."""
        self._stop.set()
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        for held in self._held.values():
            with contextlib.suppress(AiosError):
                await self.state.kernel.wait(held.pid)


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def mount(app: Any, state: ApiState) -> McpEndpoint:
    """Serve `/mcp/<agent>` on the daemon's app; the daemon closes the returned endpoint when it stops."""
    endpoint = McpEndpoint(state)
    app.add_route("/mcp/{agent}", endpoint, methods=["GET", "POST", "DELETE"])
    return endpoint
