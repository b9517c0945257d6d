"""Starts agent processes in their sandboxes, watches them, and turns how they ended into a process result."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from aios.agent_loader import ENTRY_POINT_GROUP
from aios.isolation.channels import AgentChannels
from aios.isolation.child import Bootstrap
from aios.isolation.config import AgentsConfig
from aios.isolation.launch import agent_argv
from aios.kernel.contracts import Program
from aios.kernel.errors import AgentFailed, SandboxUnavailable, UnknownAgent
from aios.sdk import Manifest
from aios.tools.sandbox import Limits, find_bwrap, launch_environment

logger = logging.getLogger(__name__)

TRUSTED_DISTRIBUTION = "aios-runtime"
"""Agents bundled with aios: their manifests are read in the kernel, not in a sandbox."""
MANIFEST_TIMEOUT_S = 60.0
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
        self._manifests: dict[tuple[str, str, str], Manifest] = {}

    def _bwrap(self) -> str:
        bwrap = find_bwrap(self.config.bwrap)
        if bwrap is None:
            raise SandboxUnavailable(
                f"agent processes need bubblewrap: {self.config.bwrap!r} not found (Debian: apt-get install "
                "bubblewrap), or set agents.isolation = 'in_process' to run only agents you trust"
            )
        return bwrap

    def _limits(self) -> Limits:
        return Limits(
            cpu_seconds=self.config.cpu_seconds,
            memory_bytes=self.config.memory_mb * 1024 * 1024,
            file_size_bytes=64 * 1024 * 1024,
            open_files=self.config.open_files,
        )

    async def manifest(self, name: str) -> Manifest:
        """An installed agent's manifest, read in a sandbox unless aios itself ships the agent."""
        entries = [e for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
        if not entries:
            installed = sorted(e.name for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
            raise UnknownAgent(f"no agent named {name!r}; installed: {installed}")
        entry = entries[0]
        dist = entry.dist
        key = (name, entry.value, f"{dist.name}=={dist.version}" if dist else "")
        cached = self._manifests.get(key)
        if cached is not None:
            return cached
        if dist is not None and dist.name == TRUSTED_DISTRIBUTION:
            manifest = entry.load().manifest
        else:
            manifest = await self._read_manifest(name)
        self._manifests[key] = manifest
        return manifest

    async def _read_manifest(self, name: str) -> Manifest:
        with tempfile.TemporaryDirectory(prefix="aios-manifest-") as scratch:
            argv = await asyncio.to_thread(
                agent_argv,
                self._bwrap(),
                socket=None,
                workdir=Path(scratch),
                limits=self._limits(),
                masked=self.masked,
            )
            proc = await asyncio.create_subprocess_exec(
                *argv,
                "--manifest",
                name,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=launch_environment(),
                start_new_session=True,
            )
            try:
                async with asyncio.timeout(MANIFEST_TIMEOUT_S):
                    out, err = await proc.communicate()
            except TimeoutError:
                _kill_group(proc)
                await proc.wait()
                raise UnknownAgent(
                    f"agent {name!r}: reading its manifest took over {MANIFEST_TIMEOUT_S}s"
                ) from None
        try:
            answer = json.loads(out)
            if "error" in answer:
                raise UnknownAgent(f"agent {name!r} does not load: {answer['error']}")
            return Manifest.model_validate(answer["manifest"])
        except (ValueError, KeyError, TypeError) as e:
            tail = err.decode(errors="replace")[-500:]
            raise UnknownAgent(f"agent {name!r}: its manifest could not be read ({e}); stderr: {tail}") from e

    def program(self, reference: str, task: str) -> Program:
        """What the kernel runs for the process: start the sandbox, feed it its token, wait for its end."""

        async def run_isolated(pid: int) -> str | None:
            return await self._run(pid, reference, task)

        return run_isolated

    async def _run(self, pid: int, reference: str, task: str) -> str | None:
        token = self.channels.open(pid)
        proc: asyncio.subprocess.Process | None = None
        output = bytearray()
        try:
            argv = await asyncio.to_thread(
                agent_argv,
                self._bwrap(),
                socket=self.socket,
                workdir=self.workdir(pid),
                limits=self._limits(),
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
            boot = Bootstrap(pid=pid, token=token, agent=reference, task=task)
            proc.stdin.write(boot.model_dump_json().encode() + b"\n")
            with contextlib.suppress(ConnectionError):  # it may die before reading: its exit says why
                await proc.stdin.drain()
            proc.stdin.close()
            await self._collect(proc.stdout, output)
            code = await proc.wait()
        except asyncio.CancelledError:
            if proc is not None:
                _kill_group(proc)
                await asyncio.shield(proc.wait())
            raise
        finally:
            report = self.channels.close(pid)
            self._keep_log(pid, output)
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


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
