"""The remote SDK against a real daemon: sync and async clients, attached agents, resumed event streams,
and a client that reaches the daemon's app in its own process through an httpx transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from aios.api.agent_routes import AgentSyscalls
from aios.api.app import create_app
from aios.api.auth import Gate
from aios.daemon import Daemon
from aios.kernel.records import ProcessState
from aios.sdk import (
    Agent,
    Context,
    Manifest,
    PermissionDenied,
    UnknownProcess,
    UserError,
    connect,
    connect_async,
)
from tests.daemon.conftest import user_token


class LocalHelper(Agent):
    """Runs in the test's own process; only its syscalls go to the daemon."""

    manifest = Manifest(name="local-helper", capabilities=("llm", "shell.exec"))

    async def run(self, task: str, ctx: Context) -> str:
        echoed = await ctx.tool("shell.exec", cmd=f"echo {task}")
        with contextlib.suppress(PermissionDenied):
            await ctx.tool("browser.open", url="http://127.0.0.1/")
        answer = await ctx.llm("Say hi", max_tokens=4)
        return f"{echoed['stdout'].strip()} / {answer.usage.completion_tokens} tokens"


class Failing(Agent):
    manifest = Manifest(name="failing", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        return check_task(task)


def check_task(task: str) -> str:
    raise ValueError(f"cannot do {task!r}")


def url(daemon: Daemon) -> str:
    return f"http://127.0.0.1:{daemon.port}"


def in_process_app(daemon: Daemon) -> FastAPI:
    """The daemon's API as an app in this process, on the daemon's own families (its kernel, its tokens)."""
    [agents] = [f for f in daemon.families if isinstance(f, AgentSyscalls)]
    return create_app(daemon.families, Gate(users=daemon.users, channels=agents.channels))


async def test_the_sync_client_spawns_streams_waits_and_raises_the_daemons_errors(daemon: Daemon) -> None:
    token = user_token(daemon, "alice")

    def use() -> tuple[list[str], str, str, str]:
        with connect(url(daemon), token) as client:
            run = client.spawn("chat", "Say hi")
            kinds = [event.kind for event in run.events()]
            record = run.wait()
            sleeper = client.spawn("sleeper", "")
            killed = sleeper.kill()
            with pytest.raises(UnknownProcess):
                client.process(999_999)
            return kinds, record.state.value, record.result or "", killed.state.value

    kinds, state, result, killed = await asyncio.to_thread(use)
    assert kinds[0] == "spawned" and kinds[-1] == "end" and state == "done" and result
    assert killed == "killed"


async def test_an_attached_agent_runs_here_with_the_daemons_tools_and_rules(daemon: Daemon) -> None:
    async with connect_async(url(daemon), token=user_token(daemon, "alice")) as client:
        record = await client.attach(LocalHelper(), "attached", capabilities=["llm", "shell.exec"])
        logs = await client.logs(record.pid)
        narrowed = await client.attach(LocalHelper(), "narrow", capabilities=["llm"])
    assert record.state == ProcessState.DONE and record.owner == "alice" and record.agent == "local-helper"
    assert record.result == "attached / 4 tokens"
    assert [(r["kind"], r["target"], r["status"]) for r in logs["audit"]] == [
        ("tool", "shell.exec", "ok"),
        ("tool", "browser.open", "denied"),
        ("llm", "local", "ok"),
    ]
    assert narrowed.state == ProcessState.FAILED and "PermissionDenied" in (narrowed.error or "")
    assert 'echoed = await ctx.tool("shell.exec"' in (narrowed.traceback or ""), "where it failed"


async def test_a_client_reaches_the_daemons_app_in_this_process_through_an_httpx_transport(
    daemon: Daemon,
) -> None:
    """No request touches the network: the URL's host cannot even be resolved."""
    transport = httpx.ASGITransport(app=in_process_app(daemon))
    token = user_token(daemon, "alice")
    async with connect_async("http://daemon.invalid", token=token, transport=transport) as client:
        record = await client.attach(LocalHelper(), "in-process", capabilities=["llm", "shell.exec"])
        kinds = [event.kind async for event in client.events(record.pid)]
        failed = await client.attach(Failing(), "that", capabilities=["llm"])
    async with connect_async("http://daemon.invalid", token="aios_wrong", transport=transport) as stranger:
        with pytest.raises(UserError, match=r"^Unauthorized: ") as refused:
            await stranger.processes()
    assert record.state == ProcessState.DONE and record.result == "in-process / 4 tokens"
    assert kinds[0] == "spawned" and kinds[-1] == "end"
    assert failed.state == ProcessState.FAILED and failed.error == "ValueError: cannot do 'that'"
    assert failed.traceback is not None and failed.traceback.startswith("Traceback (most recent call last)")
    assert "in check_task" in failed.traceback, "the agent's own frames reach the record"
    assert refused.value.__notes__ == ["the daemon answered HTTP 401"]


@contextlib.asynccontextmanager
async def cutting_proxy(port: int, cut_after_bytes: int) -> AsyncIterator[int]:
    """A TCP proxy to `port` that drops its first connection once that many bytes came back."""
    first = True

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal first
        cut, first = first, False
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, limit: int | None) -> None:
            passed = 0
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                    passed += len(data)
                    if limit is not None and passed >= limit:
                        break
            dst.close()
            upstream_writer.close()
            writer.close()

        await asyncio.gather(
            pipe(reader, upstream_writer, None),
            pipe(upstream_reader, writer, cut_after_bytes if cut else None),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_broken_event_stream_reconnects_where_it_left_off(daemon: Daemon) -> None:
    token = user_token(daemon, "alice")
    async with connect_async(url(daemon), token=token) as client:
        pid = (await client.spawn("chat", "Say hi")).pid
        assert (await client.wait(pid)).state == ProcessState.DONE
        whole = [e.id async for e in client.events(pid)]
    assert len(whole) >= 5
    async with (
        cutting_proxy(daemon.port or 0, cut_after_bytes=700) as port,
        connect_async(f"http://127.0.0.1:{port}", token=token) as client,
    ):
        resumed = [e.id async for e in client.events(pid)]
    assert resumed == whole  # nothing lost, nothing twice, across the cut
