"""The syscall wire: HTTP/1.1 over kept-alive connections, with h11 for the protocol and nothing else.

An agent's syscalls are small requests in a tight loop; a general client (httpx) costs about 0.65 ms of
CPU for each here, more than the kernel spends serving it. This one costs a tenth of that.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any

import h11

READ_CHUNK = 65536


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
                self.http.receive_data(await self.reader.read(READ_CHUNK))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.http.start_next_cycle()
                return WireResponse(status, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the kernel closed the connection mid-answer")

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

    async def _connect(self) -> _Connection:
        if self.socket is not None:
            reader, writer = await asyncio.open_unix_connection(self.socket)
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
        return _Connection(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"") -> WireResponse:
        connection = self._idle.pop() if self._idle else await self._connect()
        headers = [*self._headers, ("Content-Length", str(len(body)))]
        if body:
            headers.append(("Content-Type", "application/json"))
        try:
            response = await connection.exchange(
                h11.Request(method=method, target=path, headers=headers), body
            )
        except BaseException:
            connection.close()  # its state is unknown: never reuse it
            raise
        if connection.http.our_state is h11.IDLE:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def post(self, path: str, payload: bytes) -> WireResponse:
        return await self.request("POST", path, payload)

    async def get(self, path: str) -> WireResponse:
        return await self.request("GET", path)

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
