"""Stopping what a driver or sandbox started: process groups, and processes found through /proc.

Everything the runtime starts runs in a session of its own (`start_new_session=True`), so one signal to
its group reaches every process it forked that did not leave the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")
STOP_GRACE_S = 3.0
"""How long a stopped program may take to exit after SIGTERM before it gets SIGKILL."""


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group `pid` leads; one already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def kill(pid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal one process; one already gone is not an error, and answers False."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen[bytes], *, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group `proc` leads, SIGKILL it after `grace_s`, and reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        kill_group(proc.pid, sig)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        kill_group(proc.pid)  # stragglers left in the group
        return
    proc.wait()


def alive(pid: int) -> bool:
    """Whether a process exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pids_where(read: str, matches: Callable[[bytes], bool]) -> set[int]:
    """Processes whose /proc/<pid>/`read` file (`cmdline`, `environ`) matches; unreadable ones are skipped."""
    found: set[int] = set()
    for entry in PROC.glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if matches((entry / read).read_bytes()):
                found.add(int(entry.name))
    return found
