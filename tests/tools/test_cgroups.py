"""Cgroups aios makes for its sandboxes: a daemon that was killed leaves none behind for long."""

from __future__ import annotations

from aios.tools import cgroups
from tests.sandbox_bounds import cgroup_tree


def test_what_a_killed_daemon_left_is_swept_by_the_next() -> None:
    tree = cgroup_tree()
    hierarchy = tree.pids.parent
    stale = hierarchy / "aios-999999999"  # no such pid (above pid_max)
    (stale / "agent-7-abcd").mkdir(parents=True)
    alive = hierarchy / f"aios-{tree.pids.name.removeprefix('aios-')}"
    cgroups._sweep(hierarchy)
    assert not stale.exists() and alive.exists(), "a running daemon's folder stays"
