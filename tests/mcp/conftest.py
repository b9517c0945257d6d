"""Kernels whose drivers include real MCP servers: `servers.py` over stdio (in the sandbox) and over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from aios.boot import boot
from aios.config import Settings
from aios.kernel.errors import AiosError
from aios.kernel.kernel import Kernel
from aios.kernel.syscalls import ToolResult, ToolSyscall
from aios.tools.mcp_config import McpConfig
from aios.tools.sandbox import find_bwrap

from ..fakes import until

SERVER = Path(__file__).with_name("servers.py")

# CI installs bubblewrap, so there a missing sandbox fails these tests instead of skipping them
needs_bwrap = pytest.mark.skipif(
    find_bwrap() is None and not os.environ.get("CI"), reason="bubblewrap is not installed"
)

Boot = Callable[..., Awaitable[Kernel]]


def stdio_server(name: str, **config: Any) -> dict[str, Any]:
    """A `[[mcp.servers]]` entry running `servers.py` over stdio, its folder shown read-only."""
    return {
        "name": name,
        "command": sys.executable,
        "args": [str(SERVER), "stdio"],
        "read_only": [str(SERVER.parent)],
        **config,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
async def http_url(tmp_path: Path) -> AsyncIterator[str]:
    """`servers.py` serving streamable HTTP on 127.0.0.1, stopped when the test ends."""
    port = _free_port()
    log = tmp_path / "http-server.log"
    with log.open("w") as out:
        server = await asyncio.create_subprocess_exec(
            sys.executable, str(SERVER), "http", str(port), stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    try:
        await until(lambda: server.returncode is not None or _accepts(port), "the HTTP MCP server to listen")
        assert server.returncode is None, log.read_text()
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        await server.wait()


@pytest.fixture
async def boot_with(settings: Settings, tmp_path: Path) -> AsyncIterator[Boot]:
    """Boots kernels whose `[mcp]` table lists the given servers; shuts them down after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def booted(*servers: dict[str, Any]) -> Kernel:
            config = McpConfig.model_validate({"servers": servers})
            kernel = await boot(settings.model_copy(update={"mcp": config}), cwd=tmp_path)
            stack.push_async_callback(kernel.shutdown)
            return kernel

        yield booted


async def run_calls(
    kernel: Kernel, calls: list[tuple[str, dict[str, Any]]], capabilities: list[str]
) -> tuple[int, list[ToolResult | AiosError]]:
    """A process that makes the calls one after the other; its pid, and each call's result or error."""
    outcomes: list[ToolResult | AiosError] = []

    async def program(pid: int) -> str:
        for name, arguments in calls:
            try:
                result = await kernel.syscall(pid, ToolSyscall(name=name, arguments=arguments))
                assert isinstance(result, ToolResult)
                outcomes.append(result)
            except AiosError as e:
                outcomes.append(e)
        return "done"

    pid = await kernel.spawn(program, agent="mcp-user", task="t", capabilities=capabilities)
    await kernel.wait(pid)
    return pid, outcomes


def output(outcome: ToolResult | AiosError) -> Any:
    """A call's output, failing the test with the error when the call failed."""
    assert isinstance(outcome, ToolResult), f"the call failed: {type(outcome).__name__}: {outcome}"
    return outcome.output
