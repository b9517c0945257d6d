"""What `aios agents` and `GET /v1/agents` list: every installed agent, with its manifest or why it cannot
run (a name two packages install, a manifest that claims another agent's name, code that does not load)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from aios.agent_loader import clash, installed, load_agent
from aios.config import Settings
from aios.kernel.errors import AiosError
from aios.sdk import Manifest

ReadManifest = Callable[[str], Awaitable[Manifest]]


class AgentInfo(BaseModel):
    name: str
    """The agent's identity: its entry point name."""
    packages: list[str]
    """`package version` of each package that installs this name (more than one is a clash)."""
    manifest: Manifest | None = None
    error: str | None = None
    """Why the agent cannot run, when it cannot."""


def manifest_reader(settings: Settings) -> ReadManifest:
    """How to read an installed agent's manifest: in a sandbox when agents run isolated (a stranger's code
    never runs in this process), else by importing it (in-process agents are trusted)."""
    if settings.agents.isolation == "process":
        from aios.isolation.manifests import ManifestReader

        return ManifestReader(settings.agents, masked=[settings.data_dir]).manifest

    async def imported(name: str) -> Manifest:
        return load_agent(name).manifest

    return imported


async def catalog(read: ReadManifest) -> list[AgentInfo]:
    """Every installed agent by name; one that cannot run says why instead of having a manifest."""
    out = []
    for name, providers in sorted(installed().items()):
        info = AgentInfo(name=name, packages=[p.distribution for p in providers])
        why = clash(name, providers)
        if why is not None:
            info.error = why
        else:
            try:
                info.manifest = await read(name)
            except AiosError as e:
                info.error = e.message
        out.append(info)
    return out
