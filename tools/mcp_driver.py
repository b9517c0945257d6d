"""The `mcp.<name>` driver: one configured MCP server, its tools as the driver's operations."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from mcp import McpError
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation
from aios.kernel.errors import SandboxUnavailable, ToolError, ToolTimeout
from aios.tools.cgroups import Bounds, Cgroup, bounded
from aios.tools.mcp_catalog import Catalog, build_catalog
from aios.tools.mcp_config import McpServerConfig
from aios.tools.mcp_output import tool_output
from aios.tools.mcp_sandbox import grant_folder, sandboxed_server, stderr_tail
from aios.tools.mcp_schema import ToolArguments
from aios.tools.mcp_session import McpSession, ServerGone, Streams, describe_failure
from aios.tools.sandbox import find_bwrap

logger = logging.getLogger(__name__)

RETRY_S = 30.0
"""A server that could not be started is tried again at most this often (on a health check, or in the
background when its tools are listed)."""
PING_TIMEOUT_S = 2.0
"""After a call times out, how long the server has to answer a ping before it is taken for hung."""
HTTP_READ_TIMEOUT_S = 300.0
"""httpx read timeout of an HTTP server's streams (a tool call is cut at its own, shorter, timeout)."""


class McpDriver(Driver):
    """Calls one MCP server's tools: a stdio server runs in bubblewrap, an HTTP server is reached by URL.

    The tool list is learnt when the kernel boots (`open`), since models are offered the operations before
    any call. A server that fails then has no operations and reports unhealthy while the kernel serves the
    rest; it is tried again later. A crashed server is restarted by the next call.
    """

    open_at_boot = True

    def __init__(self, config: McpServerConfig, *, private: tuple[Path, ...] = ()) -> None:
        self.config = config
        self.name = f"mcp.{config.name}"
        self.max_concurrency = config.max_concurrency
        self.private = tuple(p.resolve() for p in private)
        """The runtime's own folders (its data dir): hidden from a stdio server wherever they lie."""
        self._catalog = Catalog()
        self._link: _Link | None = None
        self._lock = asyncio.Lock()
        self._problem = "not started yet"
        """Why there is no live session, for `health` and errors."""
        self._tried_at = -math.inf
        self._retry: asyncio.Task[None] | None = None

    def operations(self) -> dict[str, Operation]:
        if self._link is None and self._retry_due():
            self._retry = asyncio.get_running_loop().create_task(self.open(), name=f"{self.name} retry")
        return dict(self._catalog.operations)

    def unconfined(self) -> frozenset[str]:
        """A remote server acts with the credentials config gave it; a networked one reaches what the
        daemon's network reaches; one with a folder writes a folder every user's calls share."""
        config = self.config
        if config.transport == "http" or config.network_hosts or config.folder is not None:
            return frozenset({"*"})
        return frozenset()

    def unavailable(self) -> str | None:
        return None if self._link is not None else f"{self._where()}: {self._problem}"

    @property
    def server_names(self) -> dict[str, str]:
        """Operation name -> the tool's own name on the server."""
        return dict(self._catalog.server_names)

    @property
    def refused(self) -> dict[str, str]:
        """Server tools not offered, by their server name, with the reason."""
        return dict(self._catalog.refused)

    async def open(self) -> None:
        """Start the server and learn its tools; a failure is kept for `health`, not raised: the kernel
        serves without this server."""
        with contextlib.suppress(ToolError):
            await self._live()

    async def health(self) -> DriverHealth:
        link = self._link
        if link is None or not link.session.is_live:
            if self._retry_due() or link is not None:
                await self.open()
            link = self._link
        if link is None or not await link.session.ping(min(5.0, self.config.connect_timeout_s)):
            return DriverHealth(ok=False, detail=f"{self._where()}: {self._problem}")
        detail = f"{self._where()}: {len(self._catalog.operations)} tools"
        if self._catalog.refused:
            detail += f" ({len(self._catalog.refused)} not offered: {sorted(self._catalog.refused)})"
        return DriverHealth(ok=True, detail=detail)

    async def call(self, operation: str, args: Any, ctx: CallContext) -> dict[str, Any]:
        assert isinstance(args, ToolArguments), f"unexpected arguments {type(args).__name__}"
        tool = self._catalog.server_names.get(operation)
        if tool is None:
            raise ToolError(f"{self.name} no longer offers {operation!r}: {self._problem}")
        link = await self._live()  # a (re)start has connect_timeout_s; the call's own time starts after it
        limit = self.config.timeout_s
        deadline = asyncio.get_running_loop().time() + limit
        session = link.session
        try:
            result = await session.call_tool(tool, args.root, deadline - asyncio.get_running_loop().time())
        except ServerGone:
            ended = await self._end(link)
            raise ToolError(
                f"{self.name}: the server stopped during {operation}, and {self._comeback()} on the next "
                f"call: {ended}"
            ) from None
        except TimeoutError:
            if await session.ping(PING_TIMEOUT_S):
                raise ToolTimeout(f"{self.name}.{operation} ran past {limit:g}s") from None
            why = await self._end(link, kill=True)
            logger.warning("%s: hung in %s; %s", self.name, operation, why)
            raise ToolTimeout(
                f"{self.name}.{operation} ran past {limit:g}s and the server answered no ping, so it was "
                f"stopped; {self._comeback()} on the next call"
            ) from None
        except McpError as e:
            raise ToolError(f"{self.name}.{operation}: the server refused the call: {e.error.message}") from e
        return tool_output(self.name, operation, result, max_chars=self.config.max_output_chars)

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            await asyncio.wait({self._retry})
        async with self._lock:
            if self._link is not None:
                await self._end(self._link)

    async def _live(self) -> _Link:
        """The live session, started (again) within connect_timeout_s if there is none: after a crash, or
        a failed start."""
        async with self._lock:
            link = self._link
            if link is not None and link.session.is_live:
                return link
            if link is not None:
                logger.warning("%s: restarting the server; %s", self.name, await self._end(link))
            self._tried_at = asyncio.get_running_loop().time()
            try:
                link = await self._connect()
            except SandboxUnavailable as e:
                self._problem = e.message
                raise ToolError(f"{self.name}: {self._problem}") from None
            try:
                tools = await link.session.start(self.config.connect_timeout_s)
            except (ServerGone, TimeoutError, McpError) as e:
                self._problem = await self._failed_start(link, e)
                logger.warning("%s: %s", self.name, self._problem)
                raise ToolError(f"{self.name}: {self._problem}") from None
            self._catalog = build_catalog(self.config, tools)
            self._link = link
            self._problem = ""
            logger.info("%s: %d tools from the server", self.name, len(self._catalog.operations))
            return link

    async def _connect(self) -> _Link:
        """A session not yet started: a fresh sandboxed process (stdio), or a connection (HTTP)."""
        config = self.config
        if config.url is not None:
            return _Link(session=McpSession(self.name, functools.partial(_http_streams, config)))
        bwrap = find_bwrap(config.bwrap)
        if bwrap is None:
            raise SandboxUnavailable(
                f"{config.bwrap!r} not found: stdio MCP servers run only in bubblewrap "
                "(Debian: apt-get install bubblewrap)"
            )
        missing = [str(p) for p in (*config.read_only, *filter(None, [config.folder])) if not p.is_dir()]
        if missing:
            raise SandboxUnavailable(f"folders granted to the server do not exist: {missing}")
        cgroup = await asyncio.to_thread(self._prepare_sandbox)
        server = sandboxed_server(config, bwrap, private=self.private, cgroup=cgroup)
        stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by _end
        session = McpSession(self.name, lambda: stdio_client(server, errlog=stderr))
        return _Link(session=session, stderr=stderr, cgroup=cgroup)

    def _prepare_sandbox(self) -> Cgroup | None:
        """Grant the server's uid its folder, and make the cgroup that bounds this start."""
        config = self.config
        try:
            grant_folder(config, private=self.private)
        except OSError as e:
            raise SandboxUnavailable(f"cannot grant the server its folder {config.folder}: {e}") from e
        bounds = Bounds(max_processes=config.max_processes, memory_bytes=config.memory_mb * 1024 * 1024)
        return bounded(f"mcp-{config.name}", bounds)

    async def _failed_start(self, link: _Link, error: Exception) -> str:
        if isinstance(error, TimeoutError):
            ended = await self._end(link, kill=True)
            limit = self.config.connect_timeout_s
            return f"the server did not start and list its tools within {limit:g}s; {ended}"
        if isinstance(error, McpError):
            await self._end(link)
            return f"the server refused to list its tools: {error.error.message}"
        verb = "started" if self.config.transport == "stdio" else "reached"
        return f"the server could not be {verb}: {await self._end(link)}"

    async def _end(self, link: _Link, *, kill: bool = False) -> str:
        """Stop the link's session (a stdio server is reaped) and say how the server ended."""
        await link.session.close(kill=kill)
        if link.cgroup is not None:
            await asyncio.to_thread(link.cgroup.remove)
            link.cgroup = None
        if self._link is link:
            self._link = None
        if link.ended is None:
            link.ended = self._how_it_ended(link)
            if link.stderr is not None:
                link.stderr.close()
        self._problem = link.ended
        return link.ended

    def _how_it_ended(self, link: _Link) -> str:
        failure = link.session.failure
        if link.stderr is None:
            if failure is None:
                return "the server closed the connection"
            return f"the connection failed: {describe_failure(failure)}"
        cause = f" ({describe_failure(failure)})" if failure is not None else ""
        status, tail = stderr_tail(link.stderr.fileno())
        ended = "it exited" if status is None else f"it exited with status {status}"
        if status is not None and status > 128:
            ended += f" (killed by signal {status - 128})"
        ended += cause
        return f"{ended}; its stderr ends with:\n{tail}" if tail else f"{ended}; its stderr is empty"

    def _comeback(self) -> str:
        return "it is restarted" if self.config.transport == "stdio" else "it is reconnected"

    def _where(self) -> str:
        config = self.config
        return f"stdio {config.command}" if config.transport == "stdio" else f"HTTP {config.url}"

    def _retry_due(self) -> bool:
        """Whether to try a failed server again now (never outside an event loop: a CLI listing)."""
        if self._retry is not None and not self._retry.done():
            return False
        try:
            return asyncio.get_running_loop().time() - self._tried_at >= RETRY_S
        except RuntimeError:
            return False


@dataclass(kw_only=True)
class _Link:
    """One session with the server, and where its stderr went (stdio)."""

    session: McpSession
    stderr: IO[str] | None = None
    cgroup: Cgroup | None = None
    """The stdio server's cgroup (bounds its processes and memory), removed once it stopped."""
    ended: str | None = None
    """How the server ended, once it has."""


@contextlib.asynccontextmanager
async def _http_streams(config: McpServerConfig) -> AsyncIterator[Streams]:
    assert config.url is not None
    timeout = httpx.Timeout(config.connect_timeout_s, read=HTTP_READ_TIMEOUT_S)
    async with (
        httpx.AsyncClient(headers=config.headers, timeout=timeout) as client,
        streamable_http_client(config.url, http_client=client) as (read, write, _),
    ):
        yield read, write
