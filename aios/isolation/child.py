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

from aios.agent_loader import load_agent
from aios.isolation.channels import ExitReport
from aios.isolation.launch import AGENT_SOCKET
from aios.sdk import Context
from aios.sdk._remote import RemoteTransport, error_from_problem, http_client


class Bootstrap(BaseModel):
    """What the kernel writes on the agent process's stdin: never in its argv or environment."""

    pid: int
    token: str
    agent: str
    """An entry point name in `aios.agents`, or `module:qualname` of an importable class."""
    task: str


async def run(boot: Bootstrap) -> int:
    async with http_client("", token=boot.token, socket=AGENT_SOCKET) as client:
        try:
            agent = load_agent(boot.agent)
            result = await agent().run(boot.task, Context(RemoteTransport(client, boot.pid)))
        except Exception as e:
            report = ExitReport(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            code = 1
        else:
            report = ExitReport(result=None if result is None else str(result))
            code = 0
        response = await client.post(
            "/v1/self/exit", content=report.model_dump_json(), headers={"Content-Type": "application/json"}
        )
        if response.status_code >= 400:
            raise error_from_problem(response)
    return code


def manifest(name: str) -> dict[str, object]:
    """The manifest of the agent installed as `name`, or the error loading it."""
    try:
        return {"manifest": load_agent(name).manifest.model_dump(mode="json")}
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
