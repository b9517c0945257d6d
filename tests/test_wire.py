"""The syscall wire across a server that closes idle connections, and the kernel's side of a request sent
twice: once per idempotency key."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field

import h11
import pytest

from aios.isolation.channels import AgentChannels
from aios.kernel.errors import PermissionDenied, ProcessKilled
from aios.sdk._wire import IDEMPOTENCY_HEADER, Wire

IDLE_CLOSE_S = 0.2
WAIT_S = 30.0
"""Deadline for the server to hang up on an idle connection (it does after IDLE_CLOSE_S)."""


@dataclass
class Server:
    """HTTP/1.1 on 127.0.0.1 in a thread of its own, closing connections idle for IDLE_CLOSE_S; with
    `drop_first` it reads the first request whole, then hangs up without an answer."""

    drop_first: bool = False
    keys: list[str] = field(default_factory=list)
    """The idempotency key of every request that arrived, in order."""
    port: int = 0
    connections: set[asyncio.Task[None]] = field(default_factory=set)
    closed_idle: threading.Event = field(default_factory=threading.Event)
    """Set once the server hung up on a connection that sat idle."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        http = h11.Connection(our_role=h11.SERVER)
        try:
            await self._answer(http, reader, writer)
        except TimeoutError:
            self.closed_idle.set()
        except (ConnectionError, h11.RemoteProtocolError):
            pass
        finally:
            writer.close()
            self.connections.discard(task)

    async def _answer(
        self, http: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                idle = http.our_state is h11.IDLE
                data = await asyncio.wait_for(reader.read(65536), IDLE_CLOSE_S if idle else None)
                if not data:
                    break
                http.receive_data(data)
            elif isinstance(event, h11.Request):
                self.keys.append(dict(event.headers)[IDEMPOTENCY_HEADER.lower().encode()].decode())
            elif isinstance(event, h11.EndOfMessage):
                if self.drop_first and len(self.keys) == 1:
                    break
                body = f'{{"n": {len(self.keys)}}}'.encode()
                headers = [("Content-Length", str(len(body))), ("Content-Type", "application/json")]
                writer.write(http.send(h11.Response(status_code=200, headers=headers)))
                writer.write(http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage()))
                await writer.drain()
                http.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                break


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """The server on an event loop of its own: the client's loop may block, the server's never does."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        started.set()
        await stop.wait()
        listener.close()
        for connection in list(server.connections):
            connection.cancel()
        await asyncio.gather(*server.connections, return_exceptions=True)
        await listener.wait_closed()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10), "the test server did not start"
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("how", ["block", "await"])
async def test_a_request_after_the_server_closed_the_idle_connection_is_answered_once(how: str) -> None:
    with running(Server()) as server:
        wire = Wire(token="t", host="127.0.0.1", port=server.port)
        first = await wire.post("/v1/syscalls", b"{}")
        if how == "block":  # the agent's own work holds its event loop until the server hung up
            assert server.closed_idle.wait(WAIT_S)
        else:
            assert await asyncio.to_thread(server.closed_idle.wait, WAIT_S)
        second = await wire.post("/v1/syscalls", b"{}")
        await wire.aclose()
    assert (first.json(), second.json()) == ({"n": 1}, {"n": 2})
    assert len(server.keys) == 2 and server.keys[0] != server.keys[1], "each request was sent once"


async def test_a_request_whose_connection_dies_unanswered_is_sent_again_under_the_same_key() -> None:
    with running(Server(drop_first=True)) as server:
        wire = Wire(token="t", host="127.0.0.1", port=server.port)
        answer = await wire.post("/v1/syscalls", b"{}")
        await wire.aclose()
    assert answer.json() == {"n": 2}
    assert len(server.keys) == 2 and server.keys[0] == server.keys[1], "the retry carried the first key"


async def test_the_kernel_runs_a_syscall_once_per_key() -> None:
    channels = AgentChannels(max_inflight=4)
    channels.open(7)
    runs: list[int] = []
    gate = asyncio.Event()

    async def work() -> int:
        runs.append(1)
        await gate.wait()
        return len(runs)

    first = asyncio.ensure_future(channels.call(7, work, key="k1"))
    again = asyncio.ensure_future(channels.call(7, work, key="k1"))  # sent again while the first runs
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(first, again) == [1, 1]
    assert await channels.call(7, work, key="k1") == 1, "a key seen before is answered from memory"
    assert await channels.call(7, work, key="k2") == 2 and len(runs) == 2


async def test_a_running_syscall_stays_joinable_whatever_else_runs_and_after_its_first_caller_left() -> None:
    """Keys of running syscalls are never forgotten (more may run than the finished ones kept), and the
    first request going away does not cancel a syscall that a request sent again now waits for."""
    channels = AgentChannels(max_inflight=64)
    channels.open(7)
    gate = asyncio.Event()
    runs: list[str] = []

    def work(name: str) -> Callable[[], Coroutine[object, object, str]]:
        async def run() -> str:
            runs.append(name)
            await gate.wait()
            return name

        return run

    first = asyncio.ensure_future(channels.call(7, work("k0"), key="k0"))
    others = [asyncio.ensure_future(channels.call(7, work(f"k{i}"), key=f"k{i}")) for i in range(1, 40)]
    await asyncio.sleep(0)
    again = asyncio.ensure_future(channels.call(7, work("k0 again"), key="k0"))
    await asyncio.sleep(0)
    first.cancel()  # the connection of the first request died: its handler went away
    gate.set()
    assert await again == "k0" and runs.count("k0") == 1 and "k0 again" not in runs
    assert sorted(await asyncio.gather(*others)) == sorted(f"k{i}" for i in range(1, 40))


async def test_closing_a_channel_waits_until_its_cancelled_syscalls_have_cleaned_up() -> None:
    """A process's end stops its syscalls and waits for them: a killed shell command is reaped before the
    process is reported ended, not after whoever waited for it went away."""
    channels = AgentChannels(max_inflight=4)
    channels.open(7)
    started, cleaned = asyncio.Event(), asyncio.Event()

    async def work() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # cleanup that takes a while: killing and reaping a command
            cleaned.set()
        return "never"

    caller = asyncio.ensure_future(channels.call(7, work))
    await started.wait()
    assert await channels.close(7) is None
    assert cleaned.is_set(), "close returned before the syscall had cleaned up"
    with pytest.raises(ProcessKilled):
        await caller
    with pytest.raises(PermissionDenied):
        await channels.call(7, work)
