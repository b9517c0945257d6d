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

from aios.api.app import create_app
from aios.api.conversations import Conversations
from aios.api.event_log import EventLog
from aios.api.grants import UserGrants
from aios.api.mcp_endpoint import McpEndpoint, mount
from aios.api.metrics import KernelMetrics
from aios.api.server import ApiServer, tcp_listener, unix_listener
from aios.api.state import ApiState
from aios.api.tokens import UserTokens
from aios.boot import boot, resume_agent
from aios.config import Settings
from aios.isolation.channels import AgentChannels
from aios.isolation.host import AgentHost, start_agent_host
from aios.kernel.errors import AiosError, ConfigError
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState

logger = logging.getLogger(__name__)

CLI_TOKEN_LABEL = "local-cli"


@dataclass
class Daemon:
    """A running daemon's parts (tests and `aios serve` stop it with `close`)."""

    settings: Settings
    kernel: Kernel
    host: AgentHost | None
    server: ApiServer
    events: EventLog
    metrics: KernelMetrics
    users: UserTokens
    grants: UserGrants
    """What an admin granted each user (resumed processes are cut to it too)."""
    port: int | None
    """The TCP port it listens on (the one the system chose when the config said 0); None: no TCP."""
    mcp: McpEndpoint | None = None
    """`/mcp/<agent>`: the kernel's tools over MCP."""
    conversations: Conversations | None = None
    """The OpenAI endpoint's conversations (`/v1/chat/completions`)."""
    closed: bool = False

    async def close(self) -> None:
        """Stop serving; resumable processes end `interrupted`; the local CLI token is removed."""
        if self.closed:
            return
        self.closed = True
        # conversations and MCP sessions end `done` before the kernel would kill them
        if self.conversations is not None:
            await self.conversations.close()
        if self.mcp is not None:
            await self.mcp.close()
        await self.kernel.shutdown(interrupt=True)
        self.events.close()  # after the kernel's last events: streams end, the server need not wait on them
        self.metrics.close()
        if self.host is not None:
            await self.host.close()
        await self.server.stop()
        with contextlib.suppress(FileNotFoundError):
            self.settings.cli_token_path.unlink()


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
    socket and TCP, and resume what the last daemon left interrupted if the config asks."""
    check_exposure(settings)
    kernel = await boot(settings, cwd=cwd, preload=preload)
    host: AgentHost | None = None
    server: ApiServer | None = None
    try:
        if settings.agents.isolation == "process":
            host = await start_agent_host(kernel, settings.agents, data_dir=settings.data_dir)
        channels = (
            host.agents.channels
            if host
            else AgentChannels(max_inflight=settings.agents.max_inflight_syscalls)
        )
        users = UserTokens(kernel.store.engine)
        grants = UserGrants(kernel.store.engine, kernel.user_capabilities)
        events, metrics = EventLog(kernel), KernelMetrics(kernel)
        daemon_config = settings.daemon
        conversations = Conversations(
            kernel,
            idle_s=daemon_config.conversation_idle_s,
            max_per_user=daemon_config.max_conversations_per_user,
        )
        state = ApiState(
            kernel=kernel,
            channels=channels,
            store=kernel.store,
            users=users,
            grants=grants,
            events=events,
            host=host,
            memory=kernel.memory,
            engines=kernel.engines,
            metrics=metrics,
            conversations=conversations,
            secure_cookies=daemon_config.tls,
        )
        app = create_app(state)
        mcp = mount(app, state)
        server = ApiServer(app)
        await server.listen(unix_listener(settings.socket_path))
        port = None
        if daemon_config.port is not None:
            sock = tcp_listener(daemon_config.host, daemon_config.port)
            port = sock.getsockname()[1]
            await server.listen(sock, certfile=daemon_config.tls_cert, keyfile=daemon_config.tls_key)
    except BaseException:  # a port in use, say: nothing half-started stays behind
        if server is not None:
            await server.stop()
        if host is not None:
            await host.close()
        await kernel.shutdown()
        raise
    daemon = Daemon(settings, kernel, host, server, events, metrics, users, grants, port, mcp, conversations)
    await asyncio.to_thread(_issue_cli_token, settings, users)
    if daemon_config.resume_interrupted:
        await resume_interrupted(daemon)
    return daemon


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
        daemon.kernel.store.list_processes, limit=100_000, state=ProcessState.INTERRUPTED.value
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
