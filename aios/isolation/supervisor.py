"""Starts agent processes in their sandboxes, watches them, and turns how they ended into a process result."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from aios.isolation.channels import AgentChannels
from aios.isolation.child import Bootstrap
from aios.isolation.config import AgentsConfig
from aios.isolation.manifests import ManifestReader
from aios.isolation.sandboxes import AgentSandbox, SandboxSpec, start_sandbox
from aios.isolation.warm_pool import WarmPool
from aios.kernel.contracts import Program
from aios.kernel.errors import AgentFailed
from aios.sdk import Manifest
from aios.tools.sandbox_user import SandboxUser, assign, for_process, hand_over, lend, release

logger = logging.getLogger(__name__)

TRACEBACK_CHARS = 4000
"""Most characters of a crashed process's output kept in its record (the log file keeps more)."""
WARM_FOLDER = "warm"
"""Under the data dir, beside the processes' work dirs: warm sandboxes' homes, each moved into a work dir at
a spawn."""


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
        self.spec = SandboxSpec(config=config, socket=socket, masked=tuple(self.masked))
        staging = data_dir / WARM_FOLDER
        self.pool = WarmPool(self.spec, size=config.warm_pool, staging=staging) if config.warm_pool else None
        """Sandboxes started ahead; it starts filling at the first spawn."""

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
        sandbox: AgentSandbox | None = None
        output = bytearray()
        try:
            sandbox = await self._sandbox(pid, self.workdir(pid))
            if sandbox.is_lent:
                assign(pid, sandbox.user)
            assert sandbox.proc.stdout is not None
            await sandbox.boot(
                Bootstrap(pid=pid, token=token, agent=reference, task=task, nice=self.config.nice)
            )
            output += await sandbox.ready()
            await self._collect(sandbox.proc.stdout, output)
            code = await sandbox.proc.wait()
        except asyncio.CancelledError:
            if sandbox is not None:
                await sandbox.kill()
            raise
        finally:
            report = await self.channels.close(pid)
            self._keep_log(pid, output)
            if sandbox is not None:
                await sandbox.end()
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

    async def _sandbox(self, pid: int, workdir: Path) -> AgentSandbox:
        """A warm sandbox if one is ready and the work dir is new, else one started now."""
        if self.pool is not None:
            warm = await self.pool.take(workdir)
            if warm is not None:
                return warm
        user, is_lent = _cold_user(pid, workdir)
        try:
            hand_over(workdir, user)
            # at full priority: the spawn waits for it; the agent's code then runs at `nice` (its bootstrap)
            return await start_sandbox(
                self.spec, user=user, home=workdir, name=f"agent-{pid}", nice=0, is_lent=is_lent
            )
        except BaseException:
            if is_lent:
                release(user)
            raise

    async def close(self) -> None:
        """Stop the warm sandboxes (agents that run go on until their processes end)."""
        if self.pool is not None:
            await self.pool.close()

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


def _cold_user(pid: int, workdir: Path) -> tuple[SandboxUser, bool]:
    """The uid of a sandbox started for `pid`, and whether it is lent: a process run again keeps the warm uid
    its files belong to, where no other sandbox holds it now."""
    user = for_process(pid)
    if not user.switched:
        return user, False
    lent = lend(workdir.lstat().st_uid)
    return (lent, True) if lent is not None else (user, False)
