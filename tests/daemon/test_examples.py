"""The agents in examples/ (OpenAI Agents SDK, LangGraph) run unchanged against a daemon on the embedded
model: the model through the OpenAI-compatible endpoint, a function tool of their own, and the kernel's
sandboxed shell as an MCP tool. Mechanics only: a 135M model's choices are forced where they must be."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from pathlib import Path

import pytest

from aios.daemon import Daemon
from tests.daemon.conftest import user_token

EXAMPLES = Path(__file__).parents[2] / "examples"
SCRIPTS = ["openai_agents_sdk_agent.py", "langgraph_agent.py"]
LIMITS = {
    "openai_agents_sdk_agent.py": ("--max-turns", "3"),
    "langgraph_agent.py": ("--max-tool-rounds", "2"),
}
"""Few turns: the test is about mechanics, and a small model may call tools as long as it may."""

pytestmark = pytest.mark.model


async def run_example(script: str, daemon: Daemon, token: str, *args: str) -> list[str]:
    """The example's printed steps (`call NAME ARGS`, `output JSON`) and its `answer` line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOS_", "OPENAI_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        "What share of the files here are Python files?",
        "--url",
        f"http://127.0.0.1:{daemon.port}",
        "--token",
        token,
        *LIMITS[script],
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-4000:]
    return out.decode().splitlines()


def calls(lines: list[str]) -> list[tuple[str, dict[str, object], object]]:
    """Each tool call with its arguments and the output the agent got for it."""
    found = []
    for line, following in itertools.pairwise(lines):
        if line.startswith("call "):
            _, name, arguments = line.split(" ", 2)
            assert following.startswith("output "), lines
            found.append((name, json.loads(arguments), json.loads(following.removeprefix("output "))))
    assert found, f"the agent made no tool call; it printed {lines}"
    return found


@pytest.mark.parametrize("script", SCRIPTS)
async def test_the_example_agent_runs_its_function_tool_on_the_models_call(
    daemon: Daemon, script: str
) -> None:
    token = user_token(daemon, "alice")
    lines = await run_example(script, daemon, token, "--tool-choice", "percent")
    name, arguments, output = calls(lines)[0]
    assert name == "percent"
    part, whole = arguments["part"], arguments["whole"]
    assert isinstance(part, int) and isinstance(whole, int)
    assert float(str(output)) == (round(100 * part / whole, 1) if whole else 0.0)
    assert lines[-1].startswith("answer ")
    conversations = [p.record for p in daemon.kernel.table.all_live() if p.record.owner == "alice"]
    assert conversations, "the agent's model calls ran as a kernel process of its user"
    assert max(r.llm_calls for r in conversations) >= 2  # the tool's output went back to the model


@pytest.mark.parametrize("script", SCRIPTS)
async def test_the_example_agent_runs_the_kernels_shell_as_an_mcp_tool(daemon: Daemon, script: str) -> None:
    token = user_token(daemon, "bob")
    lines = await run_example(script, daemon, token, "--tool-choice", "shell__exec")
    name, arguments, _ = calls(lines)[0]
    assert name == "shell__exec" and isinstance(arguments["cmd"], str)
    assert lines[-1].startswith("answer ")
    [shell] = [
        p for p in daemon.kernel.table.all_live() if p.record.owner == "bob" and p.record.agent == "react"
    ]
    await asyncio.to_thread(daemon.kernel.store.flush)
    rows = await asyncio.to_thread(daemon.kernel.store.audit, pid=shell.pid, limit=20)
    assert [r.target for r in rows if r.kind == "tool"][:1] == ["shell.exec"]
