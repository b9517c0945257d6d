"""Finds installed agents through the `aios.agents` entry-point group.

An installed agent is named by its entry point, never by what its own code says: a manifest whose `name`
differs is refused (it would take over another agent's memory), and so is a name two packages install.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections import defaultdict
from dataclasses import dataclass

from aios.kernel.errors import PermissionDenied, UnknownAgent
from aios.sdk import Agent, Manifest

ENTRY_POINT_GROUP = "aios.agents"
TRUSTED_DISTRIBUTION = "aios-runtime"
"""Agents bundled with aios: their code is aios's own."""


@dataclass(frozen=True)
class InstalledAgent:
    """One entry point of the `aios.agents` group."""

    entry: importlib.metadata.EntryPoint

    @property
    def name(self) -> str:
        """The agent's identity: its processes, memory and capabilities are filed under it."""
        return self.entry.name

    @property
    def distribution(self) -> str:
        """`package version` of what installed it ('' when the entry point has no distribution)."""
        dist = self.entry.dist
        return f"{dist.name} {dist.version}" if dist is not None else ""

    @property
    def trusted(self) -> bool:
        dist = self.entry.dist
        return dist is not None and dist.name == TRUSTED_DISTRIBUTION

    def describe(self) -> str:
        return f"{self.entry.value} from {self.distribution or 'an unknown package'}"


def installed() -> dict[str, list[InstalledAgent]]:
    """Installed agents by name; a name with more than one entry is a clash that `find` refuses."""
    found: dict[str, list[InstalledAgent]] = defaultdict(list)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name].append(InstalledAgent(entry))
    return dict(found)


def clash(name: str, providers: list[InstalledAgent]) -> str | None:
    """Why `name` cannot be run when several packages install it, or None."""
    if len(providers) < 2:
        return None
    return (
        f"agent {name!r} is installed by {len(providers)} packages "
        f"({'; '.join(p.describe() for p in providers)}); uninstall all but one"
    )


def find(name: str) -> InstalledAgent:
    """The one installed agent called `name`."""
    agents = installed()
    providers = agents.get(name)
    if not providers:
        raise UnknownAgent(f"no agent named {name!r}; installed: {sorted(agents)}")
    why = clash(name, providers)
    if why is not None:
        raise PermissionDenied(why)
    return providers[0]


def check_identity(agent: InstalledAgent, manifest: Manifest) -> Manifest:
    """`manifest` if it names the agent as it is installed; a manifest claiming another name is refused."""
    if manifest.name != agent.name:
        raise PermissionDenied(
            f"agent {agent.name!r} ({agent.describe()}) calls itself {manifest.name!r} in its manifest; an "
            "installed agent is named by its entry point, so it is refused"
        )
    return manifest


def agent_class(reference: str) -> type[Agent]:
    """The agent class an entry point name (`react`) or a `module:Class` reference names, as its code
    declares it; only its own module is imported (a sandboxed agent process must not run other packages'
    code)."""
    if ":" not in reference:
        return _checked_class(reference, find(reference).entry.load())
    module, _, qualname = reference.partition(":")
    try:
        target: object = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as e:
        raise UnknownAgent(f"cannot load agent {reference!r}: {e}") from e
    return _checked_class(reference, target)


def load_agent(reference: str) -> type[Agent]:
    """`agent_class`, refused when an installed agent's manifest claims a name other than its own."""
    if ":" in reference:
        return agent_class(reference)
    agent = find(reference)  # looked up once: a scan of every installed package's entry points
    cls = _checked_class(reference, agent.entry.load())
    check_identity(agent, cls.manifest)
    return cls


def _checked_class(reference: str, target: object) -> type[Agent]:
    if not (isinstance(target, type) and issubclass(target, Agent) and hasattr(target, "manifest")):
        raise UnknownAgent(f"{reference!r} does not name an aios.sdk.Agent subclass with a manifest")
    return target
