"""`aios serve`: one long-lived kernel behind the API, on a Unix socket and on TCP, until a signal stops it.

On SIGTERM or SIGINT it stops taking requests, ends every resumable process `interrupted` (never silently
lost: `aios resume PID`, or `aios serve --resume-interrupted`), and closes the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

from aios.agent_host import AgentHost, start_agent_host
from aios.agent_launch import resume_agent
from aios.api.agent_routes import AgentSyscalls
from aios.api.app import create_app
from aios.api.approval_routes import Approvals
from aios.api.auth import Gate
from aios.api.conversations import Conversations
from aios.api.dashboard import Dashboard
from aios.api.event_log import EventLog
from aios.api.event_routes import Events
from aios.api.families import Family
from aios.api.grants import UserGrants
from aios.api.mcp_endpoint import Mcp
from aios.api.memory_routes import Memory
from aios.api.metrics import KernelMetrics, Metrics
from aios.api.openai_routes import OpenAI
from aios.api.process_routes import Processes
from aios.api.server import ApiServer, tcp_listener, unix_listener
from aios.api.system_routes import System
from aios.api.tokens import UserTokens
from aios.api.user_routes import Users
from aios.boot import boot
from aios.config import Settings
from aios.isolation.channels import AgentChannels
from aios.kernel.errors import AiosError, ConfigError
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState

logger = logging.getLogger(__name__)

F = TypeVar("F")

CLI_TOKEN_LABEL = "local-cli"


@dataclass
class Daemon:
    """A running daemon's parts (tests and `aios serve` stop it with `close`)."""

    settings: Settings
    kernel: Kernel
    host: AgentHost | None
    users: UserTokens
    grants: UserGrants
    """What an admin granted each user (resumed processes are cut to it too)."""
    families: list[Family]
    """The endpoint families the API is made of, in the order they were built."""
    app: FastAPI
    """The API (tests reach it in-process through `httpx.ASGITransport`)."""
    port: int | None
    """The TCP port it listens on (the one the system chose when the config said 0); None: no TCP."""
    stack: contextlib.AsyncExitStack
    """Everything started, stopped in the reverse order it was built."""

    async def close(self) -> None:
        """Stop serving; held processes end `done`, resumable ones `interrupted`; the CLI token is removed."""
        await self.stack.aclose()

    def family(self, kind: type[F]) -> F:
        """The API's family of that type."""
        return next(family for family in self.families if isinstance(family, kind))


def check_exposure(settings: Settings) -> None:
    """Refuse plain HTTP on a non-loopback address unless the config says so in as many words."""
    daemon = settings.daemon
    if (daemon.tls_cert is None) != (daemon.tls_key is None):
        raise ConfigError("daemon.tls_cert and daemon.tls_key go together: set both or neither")
    if daemon.exposed and not daemon.tls and not daemon.insecure:
        raise ConfigError(
            f"daemon.host = {daemon.host!r} is not loopback: set daemon.tls_cert and daemon.tls_key, or "
            "daemon.insecure = true to send tokens in clear"
        )


async def start_daemon(settings: Settings, *, cwd: Path | None = None, preload: bool = True) -> Daemon:
    """Boot the kernel (loading the default model at once unless not `preload`), open the API on the
    socket and TCP, and resume what the last daemon left interrupted if the config asks.

    Every part is entered on one exit stack as it is built, so stopping (or a start that fails midway: a
    port in use) undoes exactly what was built, in reverse: refuse new connections, end held processes,
    interrupt the rest and shut the kernel down, end event streams, close the agents' socket, then the
    server.
    """
    check_exposure(settings)
    async with contextlib.AsyncExitStack() as stack:
        server = ApiServer()
        stack.push_async_callback(server.stop)
        kernel = await boot(settings, cwd=cwd, preload=preload)
        stack.push_async_callback(kernel.shutdown)  # if a later part fails to start
        host = None
        if settings.agents.isolation == "process":
            host = await start_agent_host(
                kernel,
                settings.agents,
                data_dir=settings.data_dir,
                image_bytes=settings.images.max_call_bytes,
            )
            stack.push_async_callback(host.close)
        channels = (
            host.agents.channels
            if host
            else AgentChannels(max_inflight=settings.agents.max_inflight_syscalls)
        )
        events, counters = EventLog(kernel), KernelMetrics(kernel)
        stack.callback(events.close)  # after the kernel's last events: streams see every process end
        stack.callback(counters.close)
        stack.push_async_callback(kernel.shutdown, interrupt=True)
        users = UserTokens(kernel.store.engine)
        grants = UserGrants(kernel.store.engine, kernel.user_capabilities)
        config = settings.daemon
        conversations = Conversations(
            kernel, idle_s=config.conversation_idle_s, max_per_user=config.max_conversations_per_user
        )
        families: list[Family] = [
            AgentSyscalls(kernel, channels),
            System(kernel.records, users, host, secure_cookies=config.tls),
            Users(grants, users),
            Processes(kernel, kernel.records, grants, channels, host, attach_idle_s=config.attach_idle_s),
            Events(kernel, events),
            Approvals(kernel, kernel.records),
            Memory(kernel.memory),
            Metrics(counters),
            OpenAI(kernel, kernel.records, grants, conversations),
            Mcp(kernel, grants, host),
            Dashboard(),
        ]
        for family in families:
            stack.push_async_callback(family.aclose)
        app = create_app(
            families, Gate(users=users, channels=channels), image_bytes=settings.images.max_call_bytes
        )
        await server.listen(app, unix_listener(settings.socket_path))
        port = None
        if config.port is not None:
            sock = tcp_listener(config.host, config.port)
            port = sock.getsockname()[1]
            await server.listen(app, sock, certfile=config.tls_cert, keyfile=config.tls_key)
        stack.callback(server.stop_accepting)
        await asyncio.to_thread(_issue_cli_token, settings, users)
        stack.callback(_remove_cli_token, settings)
        daemon = Daemon(settings, kernel, host, users, grants, families, app, port, stack.pop_all())
    if config.resume_interrupted:
        await resume_interrupted(daemon)
    return daemon


def _remove_cli_token(settings: Settings) -> None:
    with contextlib.suppress(FileNotFoundError):
        settings.cli_token_path.unlink()


def _issue_cli_token(settings: Settings, users: UserTokens) -> None:
    """A fresh admin token for local commands, readable only by this user; the previous one is revoked."""
    users.revoke_labelled(CLI_TOKEN_LABEL)
    token, _ = users.create(settings.owner, admin=True, label=CLI_TOKEN_LABEL)
    path = settings.cli_token_path
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)


async def resume_interrupted(daemon: Daemon) -> list[int]:
    """Resume every interrupted process; one that cannot be resumed is logged and left as it is."""
    rows = await asyncio.to_thread(
        daemon.kernel.records.processes, limit=100_000, state=ProcessState.INTERRUPTED.value
    )
    admins = await asyncio.to_thread(daemon.users.admins)
    resumed = []
    for row in reversed(rows):
        try:
            ceiling = await asyncio.to_thread(daemon.grants.of_owner, row.owner, admins)
            await resume_agent(daemon.kernel, row.pid, host=daemon.host, ceiling=ceiling)
            resumed.append(row.pid)
        except AiosError as e:
            logger.warning("could not resume pid %d: %s", row.pid, e)
    return resumed


async def serve(settings: Settings, *, cwd: Path | None, on_ready: Callable[[Daemon], None]) -> None:
    """Run until SIGTERM or SIGINT."""
    daemon = await start_daemon(settings, cwd=cwd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    on_ready(daemon)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await daemon.close()
