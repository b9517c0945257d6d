"""The remote SDK: drive a running daemon from Python, on this machine (its Unix socket) or another (HTTP).

    from aios.sdk import connect
    client = connect("http://127.0.0.1:8765", token=...)
    run = client.spawn("react", "How many .py files are under ./kernel?")
    for event in run.events():
        ...
    answer = run.wait().result

`connect_async` gives the same methods as coroutines (`AsyncClient`). Both take an httpx `transport` to
reach a daemon app in this process instead: `connect_async(transport=httpx.ASGITransport(app), token=...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import traceback
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from pydantic import BaseModel

from aios.kernel.approvals import ApprovalRecord
from aios.kernel.events import KernelEvent
from aios.kernel.memory_port import MemoryHit, MemoryItem
from aios.kernel.records import ProcessRecord
from aios.sdk._agent import Agent
from aios.sdk._context import Context
from aios.sdk._remote import RemoteTransport, error_from_problem, wire_for

RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to reopen a broken event stream (the last one repeats)."""


UNIX_BASE_URL = "http://aios"
"""The host name a Unix-socket client puts in its URLs (any name works; the socket decides)."""


NO_READ_TIMEOUT = httpx.Timeout(None, connect=10.0)
"""For what may rightly take long: an event stream, an attached agent's syscalls (an LLM call)."""


def http_client(
    url: str,
    *,
    token: str,
    socket: str | None = None,
    timeout: httpx.Timeout | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for a daemon at `url`, at the Unix socket `socket`, or behind `transport`, that sends
    `token`."""
    if socket and transport is not None:
        raise ValueError("give a daemon's socket or an httpx transport, not both")
    if socket:
        transport = httpx.AsyncHTTPTransport(uds=socket)
    return httpx.AsyncClient(
        base_url=url if url and not socket else UNIX_BASE_URL,
        transport=transport,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout or NO_READ_TIMEOUT,
    )


class StreamEvent(BaseModel):
    """One event of a stream: a kernel event (`kind` as the kernel names it), or `end` / `gap`."""

    id: int
    kind: str
    event: KernelEvent | None = None
    """The kernel's event, for every kind but `end` and `gap`."""
    data: dict[str, Any]


class _ClientWire:
    """An attached agent's syscalls on the client's own httpx client, so through its transport, under the
    process's token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, payload: bytes) -> httpx.Response:
        headers = {**self.headers, "Content-Type": "application/json"}
        return await self.http.post(path, content=payload, headers=headers, timeout=NO_READ_TIMEOUT)

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, headers=self.headers, timeout=NO_READ_TIMEOUT)

    async def aclose(self) -> None:
        """Nothing to close: the client's connections outlive the attached agent."""


class AsyncClient:
    """A daemon's API as coroutines; errors come back as the `aios.sdk` exceptions the daemon named.

    With an httpx `transport` every request goes through it, event streams and an attached agent's
    syscalls included (an `httpx.ASGITransport` answers only once a response is whole: an event stream
    then arrives when it ends).
    """

    def __init__(
        self,
        url: str = "",
        *,
        token: str,
        socket: str | Path | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.socket = str(socket) if socket else None
        self.transport = transport
        self._timeout = httpx.Timeout(timeout_s, connect=10.0)
        self.http = http_client(
            url, token=token, socket=self.socket, timeout=self._timeout, transport=transport
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _call(self, method: str, path: str, *, read_s: float | None = None, **kwargs: Any) -> Any:
        timeout = httpx.USE_CLIENT_DEFAULT if read_s is None else httpx.Timeout(read_s, connect=10.0)
        response = await self.http.request(method, path, timeout=timeout, **kwargs)
        if response.status_code >= 400:
            raise error_from_problem(response)
        return None if response.status_code == 204 else response.json()

    # ---- processes ---------------------------------------------------------------------------------

    async def spawn(
        self,
        agent: str,
        task: str,
        *,
        capabilities: list[str] | None = None,
        priority: int = 0,
        model: str | None = None,
        session: str | None = None,
    ) -> ProcessRecord:
        """Start an installed agent on the daemon; returns its process at once."""
        body = {"agent": agent, "task": task, "capabilities": capabilities, "priority": priority}
        body |= {"model": model, "session": session}
        return ProcessRecord.model_validate(await self._call("POST", "/v1/processes", json=body))

    async def processes(
        self, *, limit: int = 50, state: str | None = None, active: bool = False
    ) -> list[ProcessRecord]:
        """Processes, newest first; `active`: only those that have not ended."""
        params: dict[str, Any] = {"limit": limit} | ({"state": state} if state else {})
        params |= {"active": True} if active else {}
        return [
            ProcessRecord.model_validate(p) for p in await self._call("GET", "/v1/processes", params=params)
        ]

    async def process(self, pid: int) -> ProcessRecord:
        return ProcessRecord.model_validate(await self._call("GET", f"/v1/processes/{pid}"))

    async def kill(self, pid: int) -> ProcessRecord:
        return ProcessRecord.model_validate(await self._call("POST", f"/v1/processes/{pid}/kill"))

    async def resume(self, pid: int) -> ProcessRecord:
        return ProcessRecord.model_validate(await self._call("POST", f"/v1/processes/{pid}/resume"))

    async def wait(self, pid: int, *, timeout_s: float | None = None) -> ProcessRecord:
        """The process's record once it has ended (or, after `timeout_s`, as it stands)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            left = 60.0 if deadline is None else max(0.0, min(60.0, deadline - loop.time()))
            record = ProcessRecord.model_validate(
                await self._call(
                    "GET", f"/v1/processes/{pid}/wait", params={"timeout_s": left}, read_s=left + 30
                )
            )
            if record.state.is_terminal or (deadline is not None and loop.time() >= deadline):
                return record

    async def logs(self, pid: int) -> dict[str, Any]:
        """`output` (what an isolated agent printed) and `audit` (its syscalls)."""
        logs: dict[str, Any] = await self._call("GET", f"/v1/processes/{pid}/logs")
        return logs

    async def events(
        self, pid: int | None = None, *, last_event_id: int | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Events as they happen, reconnecting with the last id seen when the stream breaks; a process's
        stream ends after its `end` event."""
        path = "/v1/events" if pid is None else f"/v1/processes/{pid}/events"
        last = last_event_id
        failures = 0
        while True:
            headers = {} if last is None else {"Last-Event-ID": str(last)}
            try:
                async with self.http.stream(
                    "GET", path, headers=headers, timeout=NO_READ_TIMEOUT
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from_problem(response)
                    async for event in _parse_sse(response.aiter_lines()):
                        failures = 0
                        last = event.id
                        yield event
                        if event.kind == "end":
                            return
            except (httpx.TransportError, httpx.RemoteProtocolError):
                pass
            delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    # ---- approvals, agents, memory -----------------------------------------------------------------

    async def approvals(self, *, pending: bool = True) -> list[ApprovalRecord]:
        rows = await self._call("GET", "/v1/approvals", params={"pending": pending})
        return [ApprovalRecord.model_validate(r) for r in rows]

    async def approve(self, approval_id: int, reason: str = "") -> ApprovalRecord:
        body = {"reason": reason}
        return ApprovalRecord.model_validate(
            await self._call("POST", f"/v1/approvals/{approval_id}/approve", json=body)
        )

    async def deny(self, approval_id: int, reason: str = "") -> ApprovalRecord:
        body = {"reason": reason}
        return ApprovalRecord.model_validate(
            await self._call("POST", f"/v1/approvals/{approval_id}/deny", json=body)
        )

    async def agents(self) -> list[dict[str, Any]]:
        agents: list[dict[str, Any]] = await self._call("GET", "/v1/agents")
        return agents

    async def memory(self, *, agent: str | None = None, limit: int = 50) -> list[MemoryItem]:
        params: dict[str, Any] = {"limit": limit} | ({"agent": agent} if agent else {})
        return [MemoryItem.model_validate(m) for m in await self._call("GET", "/v1/memory", params=params)]

    async def search_memory(self, query: str, *, k: int = 10) -> list[MemoryHit]:
        hits = await self._call("GET", "/v1/memory/search", params={"q": query, "k": k})
        return [MemoryHit.model_validate(h) for h in hits]

    async def forget(self, item_id: int, *, purge: bool = False) -> MemoryItem:
        return MemoryItem.model_validate(
            await self._call("DELETE", f"/v1/memory/{item_id}", params={"purge": purge})
        )

    # ---- an agent that runs here ---------------------------------------------------------------------

    async def attach(
        self, agent: Agent, task: str, *, capabilities: list[str] | None = None, priority: int = 0
    ) -> ProcessRecord:
        """Run `agent` in this program, its syscalls served by the daemon under a process of its own
        (capabilities: the manifest's, or fewer); returns the process's final record.

        An agent that raised ends `failed`: the record's `error` says what it raised and its `traceback`
        where. Cancelled, it is reported failed too before the cancellation goes on.
        """
        manifest = agent.manifest
        granted = list(manifest.capabilities) if capabilities is None else capabilities
        body = {"name": manifest.name, "task": task, "capabilities": granted, "priority": priority}
        attached = await self._call("POST", "/v1/processes/attach", json=body)
        pid, token = attached["process"]["pid"], attached["token"]
        wire = (
            wire_for(self.url, token=token, socket=self.socket)
            if self.transport is None
            else _ClientWire(self.http, token)
        )
        transport = RemoteTransport(wire, pid)
        try:
            try:
                result = await agent.run(task, Context(transport))
            except BaseException as e:
                ended = transport.exit(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
                if isinstance(e, Exception):
                    await ended
                else:  # cancelled or interrupted: the daemon hears of it if it can, and the signal goes on
                    with contextlib.suppress(Exception):
                        await ended
                    raise
            else:
                await transport.exit(result=None if result is None else str(result))
        finally:
            await wire.aclose()
        return await self.wait(pid)


async def _parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
    """Server-sent events from their lines (`id:`, `event:`, `data:`; comments are keep-alives)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                body = json.loads("\n".join(data))
                kind = fields.get("event", "message")
                event = None if kind in ("end", "gap") else KernelEvent.model_validate(body)
                yield StreamEvent(id=int(fields.get("id") or 0), kind=kind, event=event, data=body)
            fields, data = {}, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


class Run:
    """A process started through a `Client`: its events, its end, its kill."""

    def __init__(self, client: Client, record: ProcessRecord) -> None:
        self.client = client
        self.pid = record.pid
        self.record = record

    def events(self) -> Iterator[StreamEvent]:
        return self.client.events(self.pid)

    def wait(self, timeout_s: float | None = None) -> ProcessRecord:
        self.record = self.client.wait(self.pid, timeout_s=timeout_s)
        return self.record

    def kill(self) -> ProcessRecord:
        self.record = self.client.kill(self.pid)
        return self.record


class Client(AbstractContextManager["Client"]):
    """The same API for synchronous code: an `AsyncClient` on an event loop of its own (a thread)."""

    def __init__(
        self,
        url: str = "",
        *,
        token: str,
        socket: str | Path | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()
        self.aio: AsyncClient = self._portal.call(_make_async, url, token, socket, timeout_s, transport)

    def close(self) -> None:
        self._portal.call(self.aio.close)
        self._portal_cm.__exit__(None, None, None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def spawn(self, agent: str, task: str, **options: Any) -> Run:
        """Start an installed agent; see `AsyncClient.spawn` for the options."""
        record = self._portal.call(lambda: self.aio.spawn(agent, task, **options))
        return Run(self, record)

    def processes(
        self, *, limit: int = 50, state: str | None = None, active: bool = False
    ) -> list[ProcessRecord]:
        return self._portal.call(lambda: self.aio.processes(limit=limit, state=state, active=active))

    def process(self, pid: int) -> ProcessRecord:
        return self._portal.call(self.aio.process, pid)

    def kill(self, pid: int) -> ProcessRecord:
        return self._portal.call(self.aio.kill, pid)

    def resume(self, pid: int) -> ProcessRecord:
        return self._portal.call(self.aio.resume, pid)

    def wait(self, pid: int, *, timeout_s: float | None = None) -> ProcessRecord:
        return self._portal.call(lambda: self.aio.wait(pid, timeout_s=timeout_s))

    def logs(self, pid: int) -> dict[str, Any]:
        return self._portal.call(self.aio.logs, pid)

    def events(self, pid: int | None = None, *, last_event_id: int | None = None) -> Iterator[StreamEvent]:
        stream = self.aio.events(pid, last_event_id=last_event_id)
        try:
            while True:
                try:
                    yield self._portal.call(stream.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            self._portal.call(stream.aclose)

    def approvals(self, *, pending: bool = True) -> list[ApprovalRecord]:
        return self._portal.call(lambda: self.aio.approvals(pending=pending))

    def approve(self, approval_id: int, reason: str = "") -> ApprovalRecord:
        return self._portal.call(self.aio.approve, approval_id, reason)

    def deny(self, approval_id: int, reason: str = "") -> ApprovalRecord:
        return self._portal.call(self.aio.deny, approval_id, reason)

    def agents(self) -> list[dict[str, Any]]:
        return self._portal.call(self.aio.agents)

    def memory(self, *, agent: str | None = None, limit: int = 50) -> list[MemoryItem]:
        return self._portal.call(lambda: self.aio.memory(agent=agent, limit=limit))

    def search_memory(self, query: str, *, k: int = 10) -> list[MemoryHit]:
        return self._portal.call(lambda: self.aio.search_memory(query, k=k))

    def forget(self, item_id: int, *, purge: bool = False) -> MemoryItem:
        return self._portal.call(lambda: self.aio.forget(item_id, purge=purge))

    def attach(self, agent: Agent, task: str, *, capabilities: list[str] | None = None) -> ProcessRecord:
        """Run `agent` here, against the daemon (its coroutines run on the client's own loop)."""
        return self._portal.call(lambda: self.aio.attach(agent, task, capabilities=capabilities))


async def _make_async(
    url: str,
    token: str,
    socket: str | Path | None,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None,
) -> AsyncClient:
    return AsyncClient(url, token=token, socket=socket, timeout_s=timeout_s, transport=transport)


def connect(
    url: str = "",
    token: str | None = None,
    *,
    socket: str | Path | None = None,
    timeout_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Client:
    """A synchronous client of the daemon at `url` (or on the Unix socket `socket`, or behind the httpx
    `transport`, which then runs on the client's own event loop)."""
    if token is None:
        raise ValueError("connect needs a token: `aios token create --user NAME` prints one")
    return Client(url, token=token, socket=socket, timeout_s=timeout_s, transport=transport)


def connect_async(
    url: str = "",
    token: str | None = None,
    *,
    socket: str | Path | None = None,
    timeout_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncClient:
    """An asynchronous client (`async with connect_async(...) as client:`); with an httpx `transport`
    (`httpx.ASGITransport(app)`) it talks to a daemon app in this process."""
    if token is None:
        raise ValueError("connect_async needs a token: `aios token create --user NAME` prints one")
    return AsyncClient(url, token=token, socket=socket, timeout_s=timeout_s, transport=transport)


__all__ = ["AsyncClient", "Client", "Run", "StreamEvent", "connect", "connect_async"]
