"""Builds the bubblewrap command line that confines one shell command."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

NOBODY = 65534
SANDBOX_HOME = "/workspace"
"""Where the process's private writable folder appears inside the sandbox."""

# Files and folders that root-owned yet readable-by-owner would leak to a root-launched sandbox.
_MASKED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")
_MASKED_DIRS = ("/etc/ssh", "/etc/sudoers.d", "/root", "/home")


@dataclass(frozen=True, kw_only=True)
class Limits:
    """rlimits applied to the sandboxed command."""

    cpu_seconds: int
    memory_bytes: int
    file_size_bytes: int
    open_files: int = 256


LAUNCH_PATH = "/usr/local/bin:/usr/bin:/bin"


def launch_environment() -> dict[str, str]:
    """The environment bubblewrap itself starts with.

    bubblewrap's `--clearenv` only clears the command's environment. Its own copy stays readable inside the
    sandbox at /proc/1/environ, so the launcher must not carry the kernel's variables (API keys).
    """
    return {"PATH": LAUNCH_PATH, "LANG": "C.UTF-8"}


def find_bwrap(configured: str = "bwrap") -> str | None:
    """Absolute path of bubblewrap, or None when it is not installed."""
    return shutil.which(configured)


def interpreter_paths() -> list[Path]:
    """Where this Python and its packages live (a virtualenv or pyenv under a hidden home included)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    paths.add(str(Path(sys.executable).resolve().parent))
    return sorted(Path(p) for p in paths if Path(p).exists())


def rlimit_prefix(limits: Limits) -> list[str]:
    """`prlimit` arguments that set the limits for the command they wrap."""
    return [
        shutil.which("prlimit") or "prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--",
    ]


def _system_mounts() -> list[str]:
    args: list[str] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    return args


def bwrap_command(
    bwrap: str,
    command: str,
    *,
    workdir: Path,
    readonly_dir: Path | None,
    limits: Limits,
    hidden: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> list[str]:
    """argv that runs `command` with a read-only system, no network, no capabilities, uid nobody.

    `workdir` is bound writable at /workspace; `readonly_dir` (the user's folder) is visible read-only
    and is where the command starts, so relative paths in the task work. `hidden` are bubblewrap options
    that mask secret files in that folder (see `secret_files`). `extra_args` are bubblewrap options
    applied after the defaults (the gui driver binds its X socket in and sets DISPLAY).
    """
    args = [*rlimit_prefix(limits), bwrap, *confined_filesystem()]
    args += ["--bind", str(workdir), SANDBOX_HOME]
    start = SANDBOX_HOME
    if readonly_dir is not None:
        args += ["--ro-bind", str(readonly_dir), str(readonly_dir), *hidden]
        start = str(readonly_dir)
    args += [
        "--chdir",
        start,
        *nobody_without_network(bwrap),
        "--clearenv",
        "--setenv",
        "PATH",
        LAUNCH_PATH,
        "--setenv",
        "HOME",
        SANDBOX_HOME,
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "LANG",
        "C.UTF-8",
        *extra_args,
        "--",
        "/bin/sh",
        "-c",
        command,
    ]
    return args


def confined_argv(
    bwrap: str, argv: Sequence[str], *, cwd: Path, writable: Sequence[Path], readonly: Sequence[Path] = ()
) -> list[str]:
    """argv that runs `argv` as `bwrap_command` confines a shell command, keeping the caller's environment.

    The system is read-only, homes and secret files are hidden, there is no network and no capability;
    only `writable` can be written. `readonly` paths (an interpreter under /root) are shown again read-only.
    """
    args = [bwrap, *confined_filesystem()]
    for path in dict.fromkeys(readonly):
        args += ["--ro-bind", str(path), str(path)]
    for path in dict.fromkeys(writable):
        args += ["--bind", str(path), str(path)]
    return [*args, "--chdir", str(cwd), *nobody_without_network(bwrap), "--", *argv]


def confined_filesystem() -> list[str]:
    """The system read-only, secrets and homes hidden, private /tmp, /var and /run."""
    args = _system_mounts()
    for path in _MASKED_FILES:
        if Path(path).exists():
            args += ["--ro-bind", "/dev/null", path]
    for path in _MASKED_DIRS:
        if Path(path).exists():
            args += ["--tmpfs", path]
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var", "--tmpfs", "/run"]
    return args


@functools.cache
def _can_disable_userns(bwrap: str) -> bool:
    """bubblewrap 0.8 added `--disable-userns`; older ones cannot stop a command nesting user namespaces."""
    try:
        usage = subprocess.run(
            [bwrap, "--help"], capture_output=True, text=True, env=launch_environment(), timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    if "--disable-userns" not in usage:
        logger.warning("%s has no --disable-userns: sandboxed commands can create user namespaces", bwrap)
        return False
    return True


def nobody_without_network(bwrap: str) -> list[str]:
    """No network, uid nobody, no capabilities, and no way to gain them back in a nested user namespace."""
    nested = ["--disable-userns"] if _can_disable_userns(bwrap) else []
    return [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(NOBODY),
        "--gid",
        str(NOBODY),
        "--cap-drop",
        "ALL",
        *nested,
        "--die-with-parent",
        "--new-session",
    ]


def strip_setid(root: Path) -> list[Path]:
    """Clear set-user/group-id bits a sandboxed command left under `root`; returns the files changed.

    Inside the sandbox such a file grants nothing, but the sandbox's uid maps to the caller's on the host:
    run as root, a `chmod u+s` copy of a shell would be a setuid-root binary outside.
    """
    changed = []
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        mode = path.stat().st_mode
        if mode & (stat.S_ISUID | stat.S_ISGID):
            path.chmod(stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))
            changed.append(path)
    return changed


def unsandboxed_command(command: str, *, limits: Limits) -> list[str]:
    """argv for the explicitly allowed unsandboxed mode: rlimits only."""
    return [*rlimit_prefix(limits), "/bin/sh", "-c", command]
