"""Finds installed agents through the `aios.agents` entry-point group."""

from __future__ import annotations

import importlib.metadata
import logging

from aios.kernel.errors import UnknownAgent
from aios.sdk import Agent

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "aios.agents"


def installed_agents() -> dict[str, type[Agent]]:
    """Agent classes by manifest name; a broken plugin is logged and skipped, never fatal."""
    agents: dict[str, type[Agent]] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception:
            logger.exception("agent entry point %s (%s) failed to load", entry.name, entry.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Agent) and hasattr(cls, "manifest")):
            logger.warning(
                "entry point %s does not name an aios.sdk.Agent with a manifest; skipped", entry.name
            )
            continue
        agents[cls.manifest.name] = cls
    return agents


def load_agent(name: str) -> type[Agent]:
    agents = installed_agents()
    try:
        return agents[name]
    except KeyError:
        raise UnknownAgent(f"no agent named {name!r}; installed: {sorted(agents)}") from None
