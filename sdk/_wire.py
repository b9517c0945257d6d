"""The syscall wire: HTTP/1.1 over kept-alive connections, with h11 for the protocol and nothing else.

An agent's syscalls are small requests in a tight loop; a general client (httpx) costs about 0.65 ms of
CPU for each here, more than the kernel spends serving it. This one costs a tenth of that.

An agent may compute or sleep for minutes between two syscalls, and the server closes a kept-alive
connection after a few idle seconds. So a connection is looked at before it is reused, and a request whose
connection fails is sent once more on a fresh one, with the same `Idempotency-Key`: the kernel runs a
syscall once per key, so a request it had already accepted is answered, not run twice.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import select
import ssl
from dataclasses import dataclass
from typing import Any

import h11

READ_CHUNK = 65536
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class WireResponse:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.http = h11.Connection(our_role=h11.CLIENT)

    async def exchange(self, request: h11.Request, body: bytes) -> WireResponse:
        self.writer.write(
            self.http.send(request) + self.http.send(h11.Data(data=body)) + self.http.send(h11.EndOfMessage())
        )
        status, chunks = 0, []
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    raise ConnectionError("the kernel closed the connection before its answer was complete")
                self.http.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.http.start_next_cycle()
                return WireResponse(status, b"".join(chunks))

    def stale(self) -> bool:
        """Whether the server closed this idle connection (its keep-alive ran out) or it broke: an idle
        HTTP/1.1 connection has nothing to say, so anything to read is its end."""
        if self.writer.is_closing() or self.reader.at_eof():
            return True
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return False
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        self.writer.close()


class Wire:
    """Requests to one kernel, each on an idle kept-alive connection (a new one when all are busy)."""

    def __init__(
        self,
        *,
        token: str,
        socket: str | None = None,
        host: str = "",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.token = token
        self.socket, self.host, self.port, self.tls = socket, host, port, tls
        self._idle: list[_Connection] = []
        self._headers = [("Host", host or "aios"), ("Authorization", f"Bearer {token}")]
        self._keys = itertools.count(1)
        self._key_prefix = secrets.token_hex(6)

    async def _connect(self) -> _Connection:
        if self.socket is not None:
            reader, writer = await asyncio.open_unix_connection(self.socket)
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
        return _Connection(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"") -> WireResponse:
        """One request; if its connection fails, once more on a fresh connection under the same key."""
        key = f"{self._key_prefix}-{next(self._keys)}"
        headers = [*self._headers, ("Content-Length", str(len(body))), (IDEMPOTENCY_HEADER, key)]
        if body:
            headers.append(("Content-Type", "application/json"))
        request = h11.Request(method=method, target=path, headers=headers)
        try:
            return await self._send(request, body, fresh=False)
        except (ConnectionError, OSError):
            return await self._send(request, body, fresh=True)

    async def _send(self, request: h11.Request, body: bytes, *, fresh: bool) -> WireResponse:
        connection = None if fresh else self._reusable()
        if connection is None:
            connection = await self._connect()
        try:
            response = await connection.exchange(request, body)
        except BaseException:
            connection.close()  # its state is unknown: never reuse it
            raise
        if connection.http.our_state is h11.IDLE:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection the server has not closed; stale ones are dropped."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.stale():
                return connection
            connection.close()
        return None

    async def post(self, path: str, payload: bytes) -> WireResponse:
        return await self.request("POST", path, payload)

    async def get(self, path: str) -> WireResponse:
        return await self.request("GET", path)

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
