"""The SDK surface, agent discovery through entry points, and the in-process transport."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import aios.sdk
from aios.agent_loader import installed_agents, load_agent
from aios.boot import spawn_agent
from aios.kernel.errors import PermissionDenied, UnknownAgent
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState

from .kernel.helpers import GatedEngine


def test_public_surface_is_pinned() -> None:
    assert aios.sdk.__all__ == sorted(aios.sdk.__all__)
    assert set(aios.sdk.__all__) == {
        "Agent",
        "AiosError",
        "Context",
        "InvalidSyscall",
        "LLMResult",
        "LimitExceeded",
        "Manifest",
        "Memory",
        "MemoryHit",
        "MemoryItem",
        "Message",
        "PermissionDenied",
        "RuntimeFailure",
        "ToolCall",
        "ToolError",
        "ToolSpec",
        "ToolTimeout",
        "Transport",
        "Usage",
        "UserError",
    }


def test_bundled_agents_are_found_through_entry_points() -> None:
    agents = installed_agents()
    assert {"chat", "react"} <= set(agents)
    assert agents["react"].manifest.capabilities == ("llm", "shell.exec")
    with pytest.raises(UnknownAgent, match="no agent named 'ghost'"):
        load_agent("ghost")


PLUGIN = """
from aios.sdk import Agent, Context, Manifest

class EchoAgent(Agent):
    manifest = Manifest(name="echo", version="1.2.3", description="echoes", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        await ctx.noop()
        return task.upper()
"""


def test_a_pip_installed_third_party_agent_shows_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `pip install` leaves behind: a module plus a dist-info with an `aios.agents` entry point."""
    (tmp_path / "echo_agent.py").write_text(PLUGIN)
    dist = tmp_path / "echo_agent-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-agent\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[aios.agents]\necho = echo_agent:EchoAgent\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        agents = installed_agents()
        assert agents["echo"].manifest.version == "1.2.3"
    finally:
        sys.modules.pop("echo_agent", None)


async def test_spawned_agent_runs_through_the_sdk(kernel: Kernel) -> None:
    from aios.sdk import Agent, Context, Manifest

    class Probe(Agent):
        manifest = Manifest(name="probe", capabilities=("llm", "shell.exec"))

        async def run(self, task: str, ctx: Context) -> str:
            tools = await ctx.tools()
            out = await ctx.tool("shell.exec", cmd="echo $((6 * 7))")
            answer = await ctx.llm(task, max_tokens=4)
            return f"{[t.name for t in tools]} {out['stdout'].strip()} {answer.content}"

    engine = GatedEngine(max_concurrency=2)
    engine.gate.set()
    kernel.engines.register("local", engine)
    pid = await spawn_agent(kernel, Probe, "ping")
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "['shell.exec'] 42 echo: ping"


async def test_capabilities_can_be_narrowed_never_widened(kernel: Kernel) -> None:
    from aios.agents.chat import ChatAgent

    with pytest.raises(PermissionDenied, match="only narrowing"):
        await spawn_agent(kernel, ChatAgent, "hi", capabilities=["llm", "shell.exec"])
    from aios.agents.react import ReactAgent

    pid = await spawn_agent(kernel, ReactAgent, "hi", capabilities=["llm"])
    assert kernel.process(pid).capabilities == ["llm"]
    assert kernel.tool_specs(pid) == []
    await kernel.kill(pid)


def test_kernel_and_tools_surfaces_are_pinned() -> None:
    import aios.kernel
    import aios.tools

    for module in (aios.kernel, aios.tools):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None
    assert "LLMSyscall" in aios.kernel.__all__ and "ShellDriver" in aios.tools.__all__
