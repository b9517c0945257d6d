"""The first code an agent process runs: read who it is from stdin, run the agent, report how it ended.

`python -m aios.isolation.child` inside the sandbox. `--manifest NAME` prints one installed agent's
manifest instead, so the kernel learns it without importing agent code itself: one process per agent, so a
package can only speak for its own agents.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import traceback

from pydantic import BaseModel

from aios.agent_loader import agent_class, load_agent
from aios.sdk import Context
from aios.sdk._remote import RemoteTransport
from aios.sdk._wire import Wire

AGENT_SOCKET = "/run/aios/kernel.sock"
"""Where the kernel's socket appears inside an agent's sandbox."""


class Bootstrap(BaseModel):
    """What the kernel writes on the agent process's stdin: never in its argv or environment."""

    pid: int
    token: str
    agent: str
    """An entry point name in `aios.agents`, or `module:qualname` of an importable class."""
    task: str


async def run(boot: Bootstrap) -> int:
    transport = RemoteTransport(Wire(token=boot.token, socket=AGENT_SOCKET), boot.pid)
    try:
        agent = load_agent(boot.agent)
        result = await agent().run(boot.task, Context(transport))
    except Exception as e:
        await transport.exit(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        return 1
    else:
        await transport.exit(result=None if result is None else str(result))
        return 0
    finally:
        await transport.wire.aclose()


def manifest(name: str) -> dict[str, object]:
    """The manifest the agent installed as `name` declares (the kernel judges it), or the error loading it."""
    try:
        return {"manifest": agent_class(name).manifest.model_dump(mode="json")}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if sys.argv[1:2] == ["--manifest"]:
        out, sys.stdout = sys.stdout, sys.stderr  # what the agent's module prints is not the answer
        answer = manifest(sys.argv[2])
        out.write(json.dumps(answer))
        return
    boot = Bootstrap.model_validate_json(sys.stdin.readline())
    sys.exit(asyncio.run(run(boot)))


if __name__ == "__main__":
    main()
