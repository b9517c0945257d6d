"""Builds the installed drivers from configuration."""

from __future__ import annotations

from pathlib import Path

from aios.kernel.drivers import Driver
from aios.tools.shell import ShellConfig, ShellDriver


def build_drivers(*, shell: ShellConfig, cwd: Path | None = None) -> dict[str, Driver]:
    """Every driver this build ships, by name."""
    drivers: list[Driver] = [ShellDriver(shell, cwd=cwd)]
    return {d.name: d for d in drivers}
