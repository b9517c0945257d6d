"""A real MCP server for the tests, written with the `mcp` package: `python servers.py stdio`, or
`python servers.py http PORT` (streamable HTTP on 127.0.0.1). Run as a script: the kernel launches it in
its sandbox, which shows this folder and the interpreter, nothing of the repository's packages."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(readOnlyHint=True)
server = FastMCP("aios-test", log_level="WARNING")


@server.tool(annotations=READ_ONLY)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(name="Get-Env", annotations=READ_ONLY)
def get_env(name: str) -> str:
    """An environment variable of the server, or `unset`."""
    return os.environ.get(name, "unset")


@server.tool(annotations=READ_ONLY)
def read_file(path: str) -> str:
    """The text of a file the server can see."""
    return Path(path).read_text()


@server.tool(annotations=ToolAnnotations(destructiveHint=False))
def write_note(name: str, text: str) -> str:
    """Write a note in the server's folder."""
    Path(name).write_text(text)
    return f"wrote {name}"


@server.tool()
def delete_note(name: str) -> str:
    """Delete a note (no hints given: destructive, as the MCP spec defaults)."""
    Path(name).unlink()
    return f"deleted {name}"


@server.tool(annotations=READ_ONLY)
def flood(chars: int) -> dict[str, str]:
    """Answer with far more than anyone asked for, as text and as structured content."""
    return {"junk": "x" * chars}


@server.tool(annotations=READ_ONLY)
def fail(message: str) -> str:
    """Raise: the server answers with an error result."""
    raise ValueError(message)


@server.tool(annotations=READ_ONLY)
def crash(code: int) -> str:
    """Exit the whole server in the middle of the call."""
    print(f"about to crash with {code}", file=sys.stderr, flush=True)
    os._exit(code)


@server.tool(annotations=READ_ONLY)
def hog(megabytes: int) -> int:
    """Take this much memory and touch every page of it."""
    block = bytearray(megabytes << 20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return len(block) >> 20


@server.tool(annotations=READ_ONLY)
async def hang() -> str:
    """Never answer, while the server keeps serving other requests."""
    await anyio.sleep(3600)
    return "late"


@server.tool(annotations=READ_ONLY)
def freeze() -> str:
    """Block the server's event loop: it answers nothing any more, pings included."""
    time.sleep(3600)
    return "late"


if __name__ == "__main__":
    time.sleep(float(os.environ.get("START_DELAY_S", "0")))  # a slow start, as on a loaded machine
    if sys.argv[1] == "http":
        server.settings.port = int(sys.argv[2])
        server.run("streamable-http")
    else:
        server.run("stdio")
