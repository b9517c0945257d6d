"""Starts agent processes in their sandboxes, watches them, and turns how they ended into a process result."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from aios.isolation.channels import AgentChannels
from aios.isolation.child import Bootstrap
from aios.isolation.config import AgentsConfig
from aios.isolation.launch import agent_argv
from aios.isolation.manifests import ManifestReader, agent_bounds, agent_bwrap, agent_limits
from aios.kernel.contracts import Program
from aios.kernel.errors import AgentFailed
from aios.sdk import Manifest
from aios.tools.cgroups import Cgroup, bounded
from aios.tools.process_groups import kill_group
from aios.tools.sandbox import launch_environment
from aios.tools.sandbox_user import for_process, hand_over

logger = logging.getLogger(__name__)

TRACEBACK_CHARS = 4000
"""Most characters of a crashed process's output kept in its record (the log file keeps more)."""


class IsolatedAgents:
    """Runs agents as sandboxed processes that reach the kernel only through `channels` on `socket`."""

    def __init__(
        self,
        config: AgentsConfig,
        *,
        channels: AgentChannels,
        socket: Path,
        workdir: Callable[[int], Path],
        log_dir: Path,
        data_dir: Path,
        hidden: Sequence[Path] = (),
    ) -> None:
        self.config = config
        self.channels = channels
        self.socket = socket
        self.workdir = workdir
        self.log_dir = log_dir
        self.data_dir = data_dir
        self.masked = [data_dir, *hidden]
        """Folders agents must not read even where they lie on the import path (an evaluation's answers)."""
        self.manifests = ManifestReader(config, masked=self.masked)

    async def manifest(self, name: str) -> Manifest:
        """An installed agent's manifest, read in a sandbox unless aios itself ships the agent."""
        return await self.manifests.manifest(name)

    def program(self, reference: str, task: str) -> Program:
        """What the kernel runs for the process: start the sandbox, feed it its token, wait for its end."""

        async def run_isolated(pid: int) -> str | None:
            return await self._run(pid, reference, task)

        return run_isolated

    async def _run(self, pid: int, reference: str, task: str) -> str | None:
        token = self.channels.open(pid)
        proc: asyncio.subprocess.Process | None = None
        output = bytearray()
        cgroup: Cgroup | None = None
        try:
            cgroup = await asyncio.to_thread(bounded, f"agent-{pid}", agent_bounds(self.config))
            user = for_process(pid)
            workdir = self.workdir(pid)
            hand_over(workdir, user)
            argv = await asyncio.to_thread(
                agent_argv,
                agent_bwrap(self.config),
                user=user,
                socket=self.socket,
                workdir=workdir,
                limits=agent_limits(self.config),
                masked=self.masked,
                nice=self.config.nice,
            )
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=launch_environment(),
                start_new_session=True,
            )
            assert proc.stdin is not None and proc.stdout is not None
            if cgroup is not None:  # while its interpreter starts: the agent's code waits for the bootstrap
                await asyncio.to_thread(cgroup.adopt, proc.pid)
            boot = Bootstrap(pid=pid, token=token, agent=reference, task=task)
            proc.stdin.write(boot.model_dump_json().encode() + b"\n")
            with contextlib.suppress(ConnectionError):  # it may die before reading: its exit says why
                await proc.stdin.drain()
            proc.stdin.close()
            await self._collect(proc.stdout, output)
            code = await proc.wait()
        except asyncio.CancelledError:
            if proc is not None:
                kill_group(proc.pid)
                await asyncio.shield(proc.wait())
            raise
        finally:
            report = await self.channels.close(pid)
            self._keep_log(pid, output)
            if cgroup is not None:
                await asyncio.to_thread(cgroup.remove)
        if report is not None and report.error is not None:
            raise AgentFailed(report.error, traceback=report.traceback)
        if report is not None and code == 0:
            return report.result
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        text = output.decode(errors="replace")
        raise AgentFailed(
            f"the agent process {how} without reporting a result; its output ends: {text[-300:].strip()!r}",
            traceback=text[-TRACEBACK_CHARS:],
        )

    async def _collect(self, stream: asyncio.StreamReader, output: bytearray) -> None:
        """Keep the end of what the process writes, reading all of it so it never blocks on a full pipe."""
        while chunk := await stream.read(65536):
            output += chunk
            if len(output) > self.config.log_bytes:
                del output[: len(output) - self.config.log_bytes]

    def _keep_log(self, pid: int, output: bytearray) -> None:
        if not output:
            return
        try:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.log_dir / f"{pid}.log").write_bytes(bytes(output))
        except OSError:
            logger.exception("could not keep the output of pid %d", pid)
