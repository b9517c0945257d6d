"""Capability checks: which syscalls a process may make."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from aios.kernel.drivers import Driver
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


CAPABILITY_PATTERN = r"^[a-z0-9_.*-]{1,200}$"
"""A grant an admin writes: names, dots and `*` only (so `within` can compare patterns soundly)."""
BASE_USER_CAPABILITIES = ("llm", "memory.*")


def _only_stars(pattern: str) -> bool:
    return "?" not in pattern and "[" not in pattern


def within(ceiling: Iterable[str], capabilities: Iterable[str]) -> list[str]:
    """The part of `capabilities` that `ceiling` covers, as patterns: a capability inside a ceiling pattern
    is kept whole, and a ceiling pattern inside a capability stands for it (`ansible.*` under a ceiling of
    `ansible.check` is `ansible.check`). Never wider than either side; where unsure, narrower.

    Sound because only patterns of names, dots and `*` are compared (the ceiling's are so by
    CAPABILITY_PATTERN; a capability with `?` or `[...]` is never kept whole, nor used to keep another): a
    `*`-only pattern read as a plain name matches another `*`-only pattern exactly when everything it
    stands for does.
    """
    limits = [limit for limit in ceiling if _only_stars(limit)]
    kept: dict[str, None] = {}
    for capability in capabilities:
        if not _only_stars(capability):
            continue
        if grants(limits, capability):
            kept[capability] = None
        else:
            for limit in limits:
                if fnmatchcase(limit, capability):
                    kept[limit] = None
    return list(kept)


def user_defaults(drivers: Iterable[Driver]) -> list[str]:
    """What a user gets unless an admin grants more: the model, memory, and every operation that runs
    confined, none that acts with the daemon's own OS rights or credentials (`Driver.unconfined`)."""
    capabilities = list(BASE_USER_CAPABILITIES)
    for driver in sorted(drivers, key=lambda d: d.name):
        unconfined = driver.unconfined()
        if not unconfined:
            capabilities.append(f"{driver.name}.*")
        elif "*" not in unconfined:
            operations = sorted(driver.operations().items())
            capabilities += [op.capability for name, op in operations if name not in unconfined]
    return capabilities
