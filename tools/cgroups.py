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
import errno
import functools
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aios.tools.process_groups import alive, kill

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
JOIN_SCRIPT = (
    'while [ "$1" != -- ]; do echo 0 > "$1" || { echo "aios: cannot join the cgroup of $1" >&2; exit 125; }; '
    'shift; done; shift; exec "$@"'
)
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

    def adopt(self, root: int) -> None:
        """Move process `root` and every process it started into this cgroup.

        For a sandbox that runs nothing untrusted until told to (an agent waits for its bootstrap): moved
        while it starts, it pays no extra latency, where joining before the start waits for an RCU grace
        period of the kernel's (about 15 ms when no other move happened just before). A process started
        before its parent moved is found by the next look at the tree; one started after is born inside.
        """
        moved: set[int] = set()
        while pending := [pid for pid in [root, *_descendants(root)] if pid not in moved]:
            for pid in pending:
                for folder in self.folders:
                    with contextlib.suppress(ProcessLookupError):
                        (folder / "cgroup.procs").write_text(str(pid))
                moved.add(pid)

    def remove(self) -> None:
        """Kill what is left inside (a sandbox's processes die with it, but a stray one may linger), then
        remove the folders."""
        deadline = time.monotonic() + REMOVE_TIMEOUT_S
        for folder in self.folders:
            kill_all = folder / "cgroup.kill"  # v2 (Linux 5.14): every member at once, no pid reused
            if kill_all.exists():
                with contextlib.suppress(OSError):
                    kill_all.write_text("1")
            while pids := _members(folder):
                for pid in pids:
                    kill(pid)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)  # killed processes leave the cgroup once reaped
            try:
                folder.rmdir()
            except OSError as e:
                logger.warning("could not remove the cgroup %s: %s", folder, e)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (its children's children included), as the kernel lists them now."""
    found: list[int] = []
    parents = [pid]
    while parents:
        parent = parents.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(child) for child in (task / "children").read_text().split()]
                found += children
                parents += children
    return found


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
                swap = memory / "memory.swap.max"
                if self.version == 2 and swap.exists():  # absent where swap is not accounted
                    swap.write_text("0")
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


def _sweep(folder: Path) -> None:
    """Remove what daemons that are gone (killed, so their exit handler never ran) left under `folder`."""
    for stale in folder.glob("aios-*"):
        pid = stale.name.removeprefix("aios-")
        if not pid.isdigit() or alive(int(pid)):
            continue
        with contextlib.suppress(OSError):  # another daemon starting beside this one may sweep it first
            for leaf in [child for child in stale.iterdir() if child.is_dir()]:
                Cgroup(folders=(leaf,)).remove()
            stale.rmdir()


def _parent(folder: Path) -> Path | None:
    """A folder for aios's cgroups under `folder`, or None when it cannot be made there."""
    _sweep(folder)
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


def _delegated(folder: Path) -> bool:
    """Whether `folder` was handed to this daemon to manage (systemd's `Delegate=yes` marks it so), not a
    slice or unit of the service manager's that merely happens to be writable."""
    with contextlib.suppress(OSError):
        if os.getxattr(folder, "trusted.delegate") == b"1":
            return True
    return os.geteuid() != 0 and folder.stat().st_uid == os.geteuid()


def _enable(folder: Path) -> Path | None:
    """aios's parent below `folder` with pids and memory enabled down to it, or None.

    Only a leaf may hold processes (the root excepted): when the daemon's own cgroup holds it and was
    delegated, its processes move into a leaf `daemon` first, as systemd's delegation rules ask.
    """
    if not {"pids", "memory"} <= set((folder / "cgroup.controllers").read_text().split()):
        return None
    parent = _parent(folder)
    if parent is None:
        return None
    try:
        try:
            (folder / "cgroup.subtree_control").write_text("+pids +memory")
        except OSError as e:
            if e.errno != errno.EBUSY or not _delegated(folder):
                raise
            leaf = folder / "daemon"
            leaf.mkdir(exist_ok=True)
            for pid in _members(folder):
                with contextlib.suppress(ProcessLookupError):
                    (leaf / "cgroup.procs").write_text(str(pid))
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
    parent = _enable(folder)
    if parent is not None:
        return CgroupTree(version=2, pids=parent, memory=parent), ""
    offered = (folder / "cgroup.controllers").read_text().split()
    if not {"pids", "memory"} <= set(offered):
        return None, f"cgroup v2 offers {offered or 'no controllers'} at {folder}, not pids and memory"
    return None, f"cgroup v2 at {folder} is not delegated to aios (systemd: Delegate=yes)"


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


_DETECTING = threading.Lock()


def detect() -> tuple[CgroupTree | None, str]:
    """Where this daemon may bound its sandboxes, or None and why not (found once per process, however
    many sandboxes start at once)."""
    with _DETECTING:
        return _detect()


@functools.cache
def _detect() -> tuple[CgroupTree | None, str]:
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
