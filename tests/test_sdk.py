"""The SDK surface, agent discovery through entry points, and the in-process transport."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import aios.sdk
from aios.agent_launch import spawn_agent
from aios.agent_loader import installed, load_agent
from aios.kernel.errors import PermissionDenied, UnknownAgent
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.sdk.testing import ScriptedModel, ScriptedTransport

from .fakes import FakeEngine


def test_public_surface_is_pinned() -> None:
    assert aios.sdk.__all__ == sorted(aios.sdk.__all__)
    assert set(aios.sdk.__all__) == {
        "Agent",
        "AgentFailed",
        "AiosError",
        "AsyncClient",
        "Client",
        "KernelShutDown",
        "ReplayDiverged",
        "Run",
        "StreamEvent",
        "UnknownAgent",
        "UnknownApproval",
        "UnknownProcess",
        "connect",
        "connect_async",
        "image",
        "user",
        "ImagePart",
        "ModelCannotSee",
        "TextPart",
        "ApprovalDenied",
        "Context",
        "ContextOverflow",
        "EngineError",
        "HostBlocked",
        "InvalidSyscall",
        "LLMResult",
        "LimitExceeded",
        "Manifest",
        "Memory",
        "MemoryFailure",
        "MemoryHit",
        "MemoryItem",
        "Message",
        "PermissionDenied",
        "ProcessKilled",
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
    agents = installed()
    assert {"chat", "react"} <= set(agents)
    [react] = agents["react"]
    assert react.trusted and react.distribution.startswith("aios-runtime ")
    assert load_agent("react").manifest.capabilities == ("llm", "shell.exec")
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
        [echo] = installed()["echo"]
        assert not echo.trusted and echo.distribution == "echo-agent 1.2.3"
        assert load_agent("echo").manifest.version == "1.2.3"
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

    kernel.engines.register("local", FakeEngine(max_running=2))
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


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda ctx: ctx.llm("hi", max_tokens=10**9), "max_tokens"),
        (lambda ctx: ctx.llm("hi", max_tokens=-5), "max_tokens"),
        (lambda ctx: ctx.llm("hi", temperature=9.0), "temperature"),
        (lambda ctx: ctx.llm([{"role": "wizard", "content": "hi"}]), "role"),
        (lambda ctx: ctx.llm([]), "messages"),
        (lambda ctx: ctx.tool("no-dot-here"), "name"),
    ],
)
async def test_every_mistake_an_agent_can_make_is_an_aios_error(call: object, problem: str) -> None:
    """An agent that catches AiosError catches them all: bad arguments never escape as pydantic errors."""
    transport = ScriptedTransport(model=ScriptedModel(["never"]))
    ctx = aios.sdk.Context(transport)
    with pytest.raises(aios.sdk.InvalidSyscall, match=problem) as caught:
        await call(ctx)  # type: ignore[operator]
    assert isinstance(caught.value, aios.sdk.AiosError)
    assert transport.syscalls == []  # nothing malformed reached the kernel
