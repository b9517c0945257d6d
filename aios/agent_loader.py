"""Finds installed agents through the `aios.agents` entry-point group."""

from __future__ import annotations

import importlib
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


def load_agent(reference: str) -> type[Agent]:
    """The agent class an entry point name (`react`) or a `module:Class` reference names; only its own
    module is imported (a sandboxed agent process must not run other packages' code)."""
    if ":" in reference:
        module, _, qualname = reference.partition(":")
        try:
            target: object = importlib.import_module(module)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as e:
            raise UnknownAgent(f"cannot load agent {reference!r}: {e}") from e
    else:
        entries = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        found = [e for e in entries if e.name == reference]
        if not found:
            raise UnknownAgent(f"no agent named {reference!r}; installed: {sorted(e.name for e in entries)}")
        target = found[0].load()
    if not (isinstance(target, type) and issubclass(target, Agent) and hasattr(target, "manifest")):
        raise UnknownAgent(f"{reference!r} does not name an aios.sdk.Agent subclass with a manifest")
    return target
