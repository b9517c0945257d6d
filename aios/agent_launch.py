"""Starting installed agents as kernel processes, in the kernel or each in a sandbox of its own, and running
an interrupted one again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aios.agent_loader import load_agent
from aios.kernel.access import narrow, within
from aios.kernel.contracts import KernelAPI, Program
from aios.kernel.errors import UserError
from aios.kernel.records import ProcessRecord
from aios.sdk import Agent, Context, Manifest
from aios.transport import InProcessTransport


class AgentSandboxes(Protocol):
    """Where isolated agents run (an `AgentHost`): their code is imported only inside their sandboxes."""

    async def manifest(self, name: str) -> Manifest:
        """An installed agent's manifest, read in a sandbox."""
        ...

    def program(self, entry: str, task: str) -> Program:
        """What the kernel runs for a process of the agent at `entry` (`module:Class` or a name)."""
        ...

    def output(self, pid: int) -> str:
        """The end of what an isolated process wrote to stdout and stderr ("" if nothing)."""
        ...


def _program(
    kernel: KernelAPI, agent: str | type[Agent], task: str, host: AgentSandboxes | None
) -> tuple[Callable[[str], Awaitable[Manifest]], Program, str]:
    """How to learn the agent's manifest, the program that runs it, and its entry (to run it again)."""
    entry = agent if isinstance(agent, str) else f"{agent.__module__}:{agent.__qualname__}"
    if host is not None:
        if isinstance(agent, str):
            return host.manifest, host.program(entry, task), entry
        return _known(agent.manifest), host.program(entry, task), entry
    cls = load_agent(agent) if isinstance(agent, str) else agent

    async def program(pid: int) -> str:
        return await cls().run(task, Context(InProcessTransport(kernel, pid)))

    return _known(cls.manifest), program, entry


def _known(manifest: Manifest) -> Callable[[str], Awaitable[Manifest]]:
    async def known(_name: str) -> Manifest:
        return manifest

    return known


async def read_manifest(agent: str, host: AgentSandboxes | None = None) -> Manifest:
    """An installed agent's manifest; with `host` it is read in a sandbox (its code never runs here)."""
    if host is not None:
        return await host.manifest(agent)
    return load_agent(agent).manifest


async def spawn_agent(
    kernel: KernelAPI,
    agent: str | type[Agent],
    task: str,
    *,
    host: AgentSandboxes | None = None,
    owner: str = "local",
    capabilities: list[str] | None = None,
    priority: int = 0,
    model: str | None = None,
    session: str | None = None,
    ceiling: list[str] | None = None,
) -> int:
    """Start an installed agent (by name or class) as a process; returns its pid.

    With `host` the agent runs in its own sandboxed OS process and its code is never imported here (a
    class must then be importable by its module and name); without, it runs inside the kernel. The
    process holds the manifest's capabilities (or the `capabilities` asked for, within them), cut to
    `ceiling` (what an admin granted the user who starts it).
    """
    read_manifest, program, entry = _program(kernel, agent, task, host)
    manifest = await read_manifest(entry)
    granted = narrow(manifest.capabilities, capabilities)
    return await kernel.spawn(
        program,
        agent=manifest.name,
        task=task,
        capabilities=granted if ceiling is None else within(ceiling, granted),
        owner=owner,
        priority=priority,
        model=model,
        session=session,
        entry=entry,
        isolated=host is not None,
    )


async def resume_agent(
    kernel: KernelAPI, pid: int, *, host: AgentSandboxes | None = None, ceiling: list[str] | None = None
) -> ProcessRecord:
    """Run an interrupted agent process again, the way it first ran (isolated needs `host`), holding no
    more than `ceiling` (what its user is granted now)."""
    record = kernel.process(pid)
    if record.entry is None:
        raise UserError(f"process {pid} did not record what it runs; it cannot be resumed")
    if record.isolated and host is None:
        raise UserError(f"process {pid} ran isolated; resuming it needs an agent host")
    agent = record.entry if record.isolated else load_agent(record.entry)
    _, program, _ = _program(kernel, agent, record.task, host if record.isolated else None)
    capabilities = None if ceiling is None else within(ceiling, record.capabilities)
    return await kernel.resume(pid, program, capabilities=capabilities)
