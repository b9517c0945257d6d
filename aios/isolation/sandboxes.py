"""One agent process in its sandbox: started as a given uid with a given home, it imports the SDK and waits on
stdin for its bootstrap, so it can be started before its process is known (`warm_pool`) or for it."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from aios.isolation.child import READY_LINE, Bootstrap
from aios.isolation.config import AgentsConfig
from aios.isolation.launch import agent_argv
from aios.isolation.manifests import agent_bounds, agent_bwrap, agent_limits
from aios.tools.cgroups import Cgroup, bounded
from aios.tools.process_groups import kill_group
from aios.tools.sandbox import launch_environment
from aios.tools.sandbox_user import SandboxUser, release


@dataclass(frozen=True, kw_only=True)
class SandboxSpec:
    """What every agent sandbox of one kernel shares: settings, the kernel's socket, the hidden folders."""

    config: AgentsConfig
    socket: Path
    masked: tuple[Path, ...]
    """Folders agents must not read even where they lie on the import path (the data dir, an evaluation's
    answers)."""

    def argv(self, user: SandboxUser, home: Path, nice: int) -> list[str]:
        """The command line of a sandbox for `user` with `home` as its work dir, as a start now makes it;
        `nice` is the niceness it starts at (its agent's code runs at `config.nice` whatever it is)."""
        return agent_argv(
            agent_bwrap(self.config),
            user=user,
            socket=self.socket,
            workdir=home,
            limits=agent_limits(self.config),
            masked=self.masked,
            nice=nice,
        )


@dataclass(kw_only=True)
class AgentSandbox:
    """A started agent process; until `boot` it runs only aios's own code (the child's imports)."""

    proc: asyncio.subprocess.Process
    user: SandboxUser
    home: Path
    """Its work dir on the host (bound at the sandbox's home)."""
    argv: list[str]
    cgroup: Cgroup | None
    is_lent: bool
    """Its uid is a lent warm one, given back when it ends."""
    is_ready: bool = False
    """It said it has imported what agents need (`READY_LINE`, read off its output)."""

    async def ready(self) -> bytes:
        """Until it has imported what agents need; what it wrote instead (it failed) is returned, to keep."""
        if self.is_ready:
            return b""
        assert self.proc.stdout is not None
        try:
            first = await self.proc.stdout.readexactly(len(READY_LINE))
        except asyncio.IncompleteReadError as e:  # it ended first
            return e.partial
        self.is_ready = first == READY_LINE
        return b"" if self.is_ready else first

    async def boot(self, boot: Bootstrap) -> None:
        """Tell the waiting process who it is (only on its stdin, never in its argv or environment)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(boot.model_dump_json().encode() + b"\n")
        with contextlib.suppress(ConnectionError):  # it may die before reading: its exit says why
            await self.proc.stdin.drain()
        self.proc.stdin.close()

    async def kill(self) -> None:
        """Kill what it runs and wait for its end."""
        kill_group(self.proc.pid)
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # never booted: its pipe would keep the transport open
        await asyncio.shield(self.proc.wait())

    async def end(self) -> None:
        """After its process is gone: remove its cgroup (and what lingers there), give its uid back."""
        if self.cgroup is not None:
            await asyncio.to_thread(self.cgroup.remove)
        if self.is_lent:
            release(self.user)


async def start_sandbox(
    spec: SandboxSpec, *, user: SandboxUser, home: Path, name: str, nice: int, is_lent: bool
) -> AgentSandbox:
    """Start an agent process in a cgroup called after `name`, at niceness `nice`; it waits for its
    bootstrap."""
    cgroup = await asyncio.to_thread(bounded, name, agent_bounds(spec.config))
    proc: asyncio.subprocess.Process | None = None
    try:
        argv = await asyncio.to_thread(spec.argv, user, home, nice)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=launch_environment(),
            start_new_session=True,
        )
        if cgroup is not None:  # while its interpreter starts: the agent's code waits for the bootstrap
            await asyncio.to_thread(cgroup.adopt, proc.pid)
    except BaseException:
        if proc is not None:
            kill_group(proc.pid)
            await asyncio.shield(proc.wait())
        if cgroup is not None:
            await asyncio.to_thread(cgroup.remove)
        raise
    return AgentSandbox(proc=proc, user=user, home=home, argv=argv, cgroup=cgroup, is_lent=is_lent)
