"""Process-count and memory bounds for a sandbox, from the machine's control groups.

A sandbox joins a cgroup of its own before bubblewrap starts, so everything in it counts against
`pids.max` (a fork bomb stops there) and its memory limit (the kernel's OOM killer acts inside it only).
aios uses cgroup v2 where the machine delegated it a subtree (the daemon's own cgroup is writable and offers
the `pids` and `memory` controllers: a systemd unit with `Delegate=yes`, or a root cgroup), else cgroup v1's
`pids` and `memory` hierarchies where they are writable (root on a v1 or hybrid machine). Where neither is
possible, `detect` says why and only rlimits apply.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; exec "$@"'
"""Run as `sh -c JOIN_SCRIPT sh PROCS... -- ARGV`: the shell moves itself into each cgroup, then becomes ARGV
(its children are born inside; joining after the start would leave out what it forked meanwhile)."""
REMOVE_TIMEOUT_S = 2.0
"""How long `remove` waits for killed processes to leave before giving up on the folder."""


@dataclass(frozen=True, kw_only=True)
class Bounds:
    """What one sandbox may use."""

    max_processes: int | None = None
    """Processes and threads at once (pids.max)."""
    memory_bytes: int | None = None
    """Resident memory, page cache included (memory.max; memory.limit_in_bytes on v1)."""


@dataclass(frozen=True, kw_only=True)
class Cgroup:
    """One sandbox's cgroup (a folder per hierarchy on v1)."""

    folders: tuple[Path, ...]

    def join(self) -> list[str]:
        """The argv prefix that starts a command inside this cgroup."""
        procs = [str(folder / "cgroup.procs") for folder in self.folders]
        return ["/bin/sh", "-c", JOIN_SCRIPT, "sh", *procs, "--"]

    def remove(self) -> None:
        """Kill what is left inside (a sandbox's processes die with it, but a stray one may linger), then
        remove the folders."""
        deadline = time.monotonic() + REMOVE_TIMEOUT_S
        for folder in self.folders:
            while pids := _members(folder):
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)  # killed processes leave the cgroup once reaped
            try:
                folder.rmdir()
            except OSError as e:
                logger.warning("could not remove the cgroup %s: %s", folder, e)


def _members(folder: Path) -> list[int]:
    try:
        return [int(line) for line in (folder / "cgroup.procs").read_text().split()]
    except OSError:
        return []


@dataclass(frozen=True, kw_only=True)
class CgroupTree:
    """Where aios makes its sandboxes' cgroups: `pids` and `memory` parents (one folder on v2)."""

    version: int
    pids: Path
    memory: Path

    def describe(self) -> str:
        if self.version == 2:
            return f"cgroup v2 under {self.pids} (pids.max, memory.max)"
        return f"cgroup v1 under {self.pids} and {self.memory} (pids.max, memory.limit_in_bytes)"

    def create(self, name: str, bounds: Bounds) -> Cgroup:
        """A fresh cgroup named after `name` with `bounds` set; OSError if the machine refuses."""
        leaf = f"{name}-{secrets.token_hex(4)}"
        folders = (self.pids / leaf,) if self.version == 2 else (self.pids / leaf, self.memory / leaf)
        made: list[Path] = []
        try:
            for folder in folders:
                folder.mkdir()
                made.append(folder)
            pids, memory = folders[0], folders[-1]
            if bounds.max_processes is not None:
                (pids / "pids.max").write_text(str(bounds.max_processes))
            if bounds.memory_bytes is not None:
                limit = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
                (memory / limit).write_text(str(bounds.memory_bytes))
                if self.version == 2:
                    (memory / "memory.swap.max").write_text("0")
        except OSError:
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        return Cgroup(folders=folders)


def _own(controller: str) -> str | None:
    """This process's cgroup path in the hierarchy of `controller` ('' for the v2 hierarchy)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


_MADE: list[Path] = []
"""aios's parent cgroups made by this process, removed (when empty) as it exits."""


@atexit.register
def _remove_parents() -> None:
    for folder in reversed(_MADE):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _parent(folder: Path) -> Path | None:
    """A folder for aios's cgroups under `folder`, or None when it cannot be made there."""
    mine = folder / f"aios-{os.getpid()}"
    try:
        mine.mkdir()
    except FileExistsError:
        return mine
    except OSError:
        return None
    _MADE.append(mine)
    return mine


def _v2_root() -> Path | None:
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (candidate / "cgroup.controllers").is_file():
            return candidate
    return None


def _enable(folder: Path) -> Path | None:
    """aios's parent below `folder` with pids and memory enabled down to it, or None."""
    if not {"pids", "memory"} <= set((folder / "cgroup.controllers").read_text().split()):
        return None
    parent = _parent(folder)
    if parent is None:
        return None
    try:  # refused (EBUSY) where `folder` itself holds processes: only leaves may, the root excepted
        (folder / "cgroup.subtree_control").write_text("+pids +memory")
        (parent / "cgroup.subtree_control").write_text("+pids +memory")
    except OSError:
        with contextlib.suppress(OSError):
            parent.rmdir()
        return None
    return parent


def _try_v2() -> tuple[CgroupTree | None, str]:
    root = _v2_root()
    own = _own("")
    if root is None or own is None:
        return None, "no cgroup v2 hierarchy"
    folder = root / own.lstrip("/")
    # the daemon's own cgroup, else its parent (systemd's DelegateSubgroup= starts a unit one level down)
    for candidate in (folder, folder.parent) if folder != root else (folder,):
        parent = _enable(candidate)
        if parent is not None:
            return CgroupTree(version=2, pids=parent, memory=parent), ""
    offered = (folder / "cgroup.controllers").read_text().split()
    if not {"pids", "memory"} <= set(offered):
        return None, f"cgroup v2 offers {offered or 'no controllers'} at {folder}, not pids and memory"
    return None, f"cgroup v2 at {folder} is not delegated to this user (or holds other processes)"


def _try_v1() -> tuple[CgroupTree | None, str]:
    parents = []
    for controller in ("pids", "memory"):
        own = _own(controller)
        hierarchy = CGROUP_ROOT / controller
        if own is None or not hierarchy.is_dir():
            return None, f"no cgroup v1 {controller} hierarchy"
        parent = _parent(hierarchy / own.lstrip("/"))
        if parent is None:
            return None, f"the cgroup v1 {controller} hierarchy is not writable"
        parents.append(parent)
    return CgroupTree(version=1, pids=parents[0], memory=parents[1]), ""


@functools.cache
def detect() -> tuple[CgroupTree | None, str]:
    """Where this daemon may bound its sandboxes, or None and why not (found once per process)."""
    tree, why_not_v2 = _try_v2()
    if tree is not None:
        return tree, ""
    tree, why_not_v1 = _try_v1()
    if tree is not None:
        return tree, ""
    return None, f"{why_not_v2}; {why_not_v1}"


def bounded(name: str, bounds: Bounds) -> Cgroup | None:
    """A cgroup with `bounds` for one sandbox, or None where the machine gives aios none."""
    tree, _ = detect()
    if tree is None:
        return None
    try:
        return tree.create(name, bounds)
    except OSError as e:
        logger.warning("no cgroup for %s: %s", name, e)
        return None
