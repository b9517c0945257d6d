"""One long-lived MCP client session, shared by every call to its server.

The transports' task groups must be entered and left by one task, while calls come from many: a task of
the session's own holds the transport and the `ClientSession` open until `close`, or until the server's
stream ends (a stdio server that exited, an HTTP server that failed). Each call races the server's answer
against that end and its own timeout, so a dead or hung server never leaves a caller waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession, McpError, types
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

T = TypeVar("T")
Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
OpenStreams = Callable[[], AbstractAsyncContextManager[Streams]]
"""Opens a transport to the server (starting it, for stdio) and yields its read and write streams."""

CLOSE_GRACE_S = 6.0
"""How long closing waits for the transport's own shutdown (stdio: 2 s after stdin closes, 2 s after
SIGTERM) before the holding task is cancelled."""


class ServerGone(Exception):
    """The session ended under a caller: the server exited, hung up, or could not be reached."""


class McpSession:
    """A started session with one server; `start` once, then `call_tool`, `ping`, `close` from any task."""

    def __init__(self, label: str, open_streams: OpenStreams) -> None:
        self.label = label
        self._open_streams = open_streams
        self._session: ClientSession | None = None
        self._ready = asyncio.Event()
        self._leave = asyncio.Event()
        """Set to end the session: by `close`, or when the server's stream ends."""
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scope = anyio.CancelScope()
        """Cancelled to stop the transport at once: anyio's cancellation reaches its clean-up code too, so
        the process is killed rather than waited for."""
        self.failure: BaseException | None = None
        """What broke the transport, when something did (an HTTP error, a failed launch)."""

    @property
    def is_live(self) -> bool:
        return self._session is not None and not self._leave.is_set()

    async def start(self, timeout_s: float) -> list[types.Tool]:
        """Launch or connect, initialize, and list the server's tools (all pages), within `timeout_s`;
        on failure nothing is left running."""
        assert self._task is None, f"{self.label}: a session starts once"
        self._task = asyncio.create_task(self._hold(), name=f"{self.label} MCP session")
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await self._first(self._ready.wait())
            return await self._list_tools(deadline)
        except BaseException:
            await self.close(kill=True)
            raise

    async def _list_tools(self, deadline: float) -> list[types.Tool]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            left_s = deadline - asyncio.get_running_loop().time()
            page = await self.request(lambda s, params=params: s.list_tools(params=params), left_s)
            tools += page.tools
            cursor = page.nextCursor
            if not cursor:
                return tools

    async def call_tool(
        self, name: str, arguments: dict[str, object], timeout_s: float
    ) -> types.CallToolResult:
        return await self.request(lambda s: s.call_tool(name, arguments), timeout_s)

    async def ping(self, timeout_s: float) -> bool:
        """Whether the server still answers (a tool that timed out may have wedged it)."""
        try:
            await self.request(lambda s: s.send_ping(), timeout_s)
        except (ServerGone, TimeoutError, McpError):
            return False
        return True

    async def request(self, send: Callable[[ClientSession], Awaitable[T]], timeout_s: float) -> T:
        """One request; ServerGone if the session ends first, TimeoutError past `timeout_s`, McpError for
        the server's own refusal."""
        session = self._session
        if session is None or self._leave.is_set():
            raise ServerGone(f"{self.label}: the session has ended")
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                return await self._first(send(session))
        except McpError as e:
            if e.error.code == types.CONNECTION_CLOSED:
                await self.ended(CLOSE_GRACE_S)
                raise ServerGone(f"{self.label}: the connection closed") from e
            raise

    async def ended(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) for the holding task to finish: a crashed server is reaped by then."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ended.wait()
        return self._ended.is_set()

    async def close(self, *, kill: bool = False) -> None:
        """End the session and its transport; safe to call more than once. A stdio server is asked to stop
        (its stdin closed, then SIGTERM), or with `kill` killed at once (it is hung)."""
        self._leave.set()
        task = self._task
        if task is None:
            return
        if kill or not self._ready.is_set():
            self._scope.cancel()
        if not await self.ended(CLOSE_GRACE_S):
            self._scope.cancel()
        await asyncio.wait({task})

    async def _first(self, awaitable: Awaitable[T]) -> T:
        """`awaitable`'s result, or ServerGone if the session ends before it (its request is abandoned)."""
        work = asyncio.ensure_future(awaitable)
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({work, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (work, ended):
                future.cancel()
            await asyncio.wait({work, ended})
        if work.cancelled():  # only ever by the session's end
            raise ServerGone(f"{self.label}: the session ended") from self.failure
        error = work.exception()
        if error is not None and self._leave.is_set() and not isinstance(error, McpError):
            raise ServerGone(f"{self.label}: the session ended") from error  # a stream closed under it
        return work.result()

    async def _hold(self) -> None:
        try:
            with self._scope:
                await self._serve()
        except Exception as e:
            logger.debug("%s: the MCP session ended: %s", self.label, describe_failure(e))
            cause = _innermost(e)
            # the server's stream closing under a request says nothing its exit status does not say better
            if not (isinstance(cause, McpError) and cause.error.code == types.CONNECTION_CLOSED):
                self.failure = e
        finally:
            self._session = None
            self._leave.set()
            self._ended.set()

    async def _serve(self) -> None:
        async with self._open_streams() as (read, write):
            forward, forwarded = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            # each stream is closed here, whichever part of the session ends first
            async with read, forward, forwarded, anyio.create_task_group() as group:
                group.start_soon(self._forward, read, forward)
                async with ClientSession(forwarded, write) as session:
                    await session.initialize()
                    self._session = session
                    self._ready.set()
                    await self._leave.wait()
                group.cancel_scope.cancel()

    async def _forward(
        self,
        read: MemoryObjectReceiveStream[SessionMessage | Exception],
        forward: MemoryObjectSendStream[SessionMessage | Exception],
    ) -> None:
        """Pass the server's messages on, and end the session when they stop (the server is gone)."""
        async with forward:
            async for message in read:
                await forward.send(message)
        self._leave.set()


def describe_failure(error: BaseException) -> str:
    """The innermost cause of a transport failure (task groups wrap it in exception groups)."""
    error = _innermost(error)
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe_failure(e) for e in error.exceptions)
    return f"{type(error).__name__}: {error}"


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
