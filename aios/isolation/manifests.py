"""Reads installed agents' manifests without running their code in the kernel: a stranger's package is
imported only inside a sandbox, one process per agent, and its answer must name the agent as installed."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aios.agent_loader import InstalledAgent, check_identity, find
from aios.isolation.config import AgentsConfig
from aios.isolation.launch import agent_argv
from aios.kernel.errors import SandboxUnavailable, UnknownAgent
from aios.sdk import Manifest
from aios.tools.cgroups import Bounds, bounded
from aios.tools.process_groups import kill_group
from aios.tools.sandbox import Limits, find_bwrap, launch_environment
from aios.tools.sandbox_user import for_service, hand_over

MANIFEST_TIMEOUT_S = 60.0
MANIFEST_READER = "agent-manifests"
"""The sandbox user that reads manifests (no process exists yet)."""


def agent_limits(config: AgentsConfig) -> Limits:
    """The rlimits of an agent process (and of the sandbox that reads its manifest)."""
    return Limits(
        cpu_seconds=config.cpu_seconds,
        memory_bytes=config.memory_mb * 1024 * 1024,
        file_size_bytes=64 * 1024 * 1024,
        open_files=config.open_files,
        processes=config.max_processes,
    )


def agent_bounds(config: AgentsConfig) -> Bounds:
    """The cgroup bounds of an agent process's sandbox."""
    return Bounds(max_processes=config.max_processes, memory_bytes=config.memory_mb * 1024 * 1024)


def agent_bwrap(config: AgentsConfig) -> str:
    bwrap = find_bwrap(config.bwrap)
    if bwrap is None:
        raise SandboxUnavailable(
            f"agent processes need bubblewrap: {config.bwrap!r} not found (Debian: apt-get install "
            "bubblewrap), or set agents.isolation = 'in_process' to run only agents you trust"
        )
    return bwrap


class ManifestReader:
    """Installed agents' manifests: aios's own read here, any other package's in a sandbox; cached per
    agent name, entry point and package version."""

    def __init__(self, config: AgentsConfig, *, masked: Sequence[Path] = ()) -> None:
        self.config = config
        self.masked = list(masked)
        """Folders the sandbox hides even where they lie on the import path (the data dir)."""
        self._manifests: dict[tuple[str, str, str], Manifest] = {}

    async def manifest(self, name: str) -> Manifest:
        """The manifest of the agent installed as `name`; refused when it claims another name."""
        agent = find(name)
        key = (name, agent.entry.value, agent.distribution)
        cached = self._manifests.get(key)
        if cached is not None:
            return cached
        if agent.trusted:
            manifest = agent.entry.load().manifest
        else:
            manifest = await self._read(agent)
        self._manifests[key] = check_identity(agent, manifest)
        return manifest

    async def _read(self, agent: InstalledAgent) -> Manifest:
        name = agent.name
        with tempfile.TemporaryDirectory(prefix="aios-manifest-") as scratch:
            user = for_service(MANIFEST_READER)
            hand_over(Path(scratch), user)
            argv = await asyncio.to_thread(
                agent_argv,
                agent_bwrap(self.config),
                user=user,
                socket=None,
                workdir=Path(scratch),
                limits=agent_limits(self.config),
                masked=self.masked,
            )
            cgroup = await asyncio.to_thread(bounded, "agent-manifest", agent_bounds(self.config))
            joined = cgroup.join() if cgroup is not None else []
            proc = await asyncio.create_subprocess_exec(
                *joined,
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
                kill_group(proc.pid)
                await proc.wait()
                raise UnknownAgent(
                    f"agent {name!r}: reading its manifest took over {MANIFEST_TIMEOUT_S}s"
                ) from None
            finally:
                if cgroup is not None:
                    await asyncio.to_thread(cgroup.remove)
        try:
            answer = json.loads(out)
            if "error" in answer:
                raise UnknownAgent(f"agent {name!r} does not load: {answer['error']}")
            return Manifest.model_validate(answer["manifest"])
        except (ValueError, KeyError, TypeError) as e:
            tail = err.decode(errors="replace")[-500:]
            raise UnknownAgent(f"agent {name!r}: its manifest could not be read ({e}); stderr: {tail}") from e
