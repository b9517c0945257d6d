"""Capability checks: which syscalls a process may make."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from aios.kernel.errors import PermissionDenied

LLM_CAPABILITY = "llm"


def grants(capabilities: Iterable[str], needed: str) -> bool:
    """True if any capability pattern (`shell.exec`, `shell.*`, `*`) covers `needed`."""
    return any(fnmatchcase(needed, pattern) for pattern in capabilities)


def narrow(manifest: Iterable[str], requested: Iterable[str] | None) -> list[str]:
    """Capabilities for a spawn: the requested ones, each of which the manifest must already grant."""
    granted = list(manifest)
    if requested is None:
        return granted
    wanted = list(requested)
    widened = [c for c in wanted if not grants(granted, c)]
    if widened:
        raise PermissionDenied(
            f"capabilities {widened} are not in the agent's manifest {granted}; only narrowing"
        )
    return wanted


def require(capabilities: Iterable[str], needed: str, *, pid: int, syscall_id: str) -> None:
    """Raise PermissionDenied unless `needed` is granted."""
    if not grants(capabilities, needed):
        raise PermissionDenied(f"capability {needed!r} not granted", pid=pid, syscall_id=syscall_id)
