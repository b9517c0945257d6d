"""Cgroups aios makes for its sandboxes: a daemon that was killed leaves none behind for long."""

from __future__ import annotations

import pytest

from aios.tools import cgroups


def test_what_a_killed_daemon_left_is_swept_by_the_next() -> None:
    tree, why_not = cgroups.detect()
    if tree is None:
        pytest.skip(f"this machine gives aios no cgroups ({why_not}): `aios doctor` says so")
    hierarchy = tree.pids.parent
    stale = hierarchy / "aios-999999999"  # no such pid (above pid_max)
    (stale / "agent-7-abcd").mkdir(parents=True)
    alive = hierarchy / f"aios-{tree.pids.name.removeprefix('aios-')}"
    cgroups._sweep(hierarchy)
    assert not stale.exists() and alive.exists(), "a running daemon's folder stays"
