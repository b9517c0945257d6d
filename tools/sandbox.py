"""Builds the bubblewrap command lines that confine sandboxed code: a shell command, and what the other
drivers run (`sandbox_user` decides who that code is on the host)."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aios.tools.sandbox_user import SandboxUser, become, namespaces

logger = logging.getLogger(__name__)

SANDBOX_HOME = "/workspace"
"""Where the process's private writable folder appears inside the sandbox."""

# Files and folders that root-owned yet readable-by-owner would leak to a root-launched sandbox; with a
# sandbox uid of its own, file modes protect them already: these masks are the second line.
_MASKED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")
_MASKED_DIRS = ("/etc/ssh", "/etc/sudoers.d", "/root", "/home")
_SCRATCH_DIRS = ("/tmp", "/var", "/run")


@dataclass(frozen=True, kw_only=True)
class Limits:
    """rlimits applied to the sandboxed command."""

    cpu_seconds: int
    memory_bytes: int
    file_size_bytes: int
    open_files: int = 256
    processes: int | None = None
    """Processes and threads of the sandbox's uid (RLIMIT_NPROC; only where it has a uid of its own)."""


LAUNCH_PATH = "/usr/local/bin:/usr/bin:/bin"


def launch_environment() -> dict[str, str]:
    """The environment bubblewrap itself starts with.

    bubblewrap's `--clearenv` only clears the command's environment. Its own copy stays readable inside the
    sandbox at /proc/1/environ (where the sandbox's uid is the daemon's), so the launcher must not carry the
    kernel's variables (API keys).
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


def rlimit_prefix(limits: Limits, user: SandboxUser | None = None) -> list[str]:
    """`prlimit` arguments that set the limits for the command they wrap (the process count only where the
    sandbox has a uid of its own: it counts every process of the uid)."""
    nproc = []
    if limits.processes is not None and user is not None and user.switched:
        nproc = [f"--nproc={limits.processes}"]
    return [
        shutil.which("prlimit") or "prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        *nproc,
        "--",
    ]


def process_limit(processes: int, user: SandboxUser) -> list[str]:
    """`prlimit` arguments that bound only the processes of the sandbox's uid (where it has its own)."""
    if not user.switched:
        return []
    return [shutil.which("prlimit") or "prlimit", f"--nproc={processes}", "--"]


class MountPlan:
    """bubblewrap's mount options, in order.

    bubblewrap makes the folders on the way to a mount point 0700; code switched to the sandbox's own uid
    could not cross them, so they are made 0755 here (no file of the host is in them).
    """

    def __init__(self, user: SandboxUser) -> None:
        self.user = user
        self.args: list[str] = []
        self._shown: list[Path] = []
        """Folders mounted from the host: what lies below them exists already."""
        self._scratch: list[Path] = []
        self._made: set[Path] = set()

    def system(self) -> MountPlan:
        """The system read-only, secrets and homes hidden, private /tmp, /var and /run."""
        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt"):
            path = Path(top)
            if path.is_symlink():
                self.args += ["--symlink", os.readlink(path), top]
            elif path.is_dir():
                self.bind(path)
        for file in _MASKED_FILES:
            if Path(file).exists():
                self.args += ["--ro-bind", "/dev/null", file]
        for folder in _MASKED_DIRS:
            if Path(folder).exists():
                self.tmpfs(folder)
        self.args += ["--dev", "/dev", "--proc", "/proc"]
        self._scratch += [Path("/dev"), Path("/proc")]
        self.tmpfs("/dev/shm", mode=0o1777)  # POSIX shared memory (Python's multiprocessing, Chromium)
        self.tmpfs("/tmp", mode=0o1777)
        for folder in _SCRATCH_DIRS[1:]:
            self.tmpfs(folder)
        return self

    def tmpfs(self, path: str | Path, *, mode: int = 0o755) -> MountPlan:
        """An empty private folder at `path` (hiding what is there)."""
        target = Path(path)
        self._parents(target)
        if self.user.switched:
            self.args += ["--perms", f"{mode:04o}"]
        self.args += ["--tmpfs", str(target)]
        self._scratch.append(target)
        return self

    def bind(
        self, source: str | Path, target: str | Path | None = None, *, writable: bool = False
    ) -> MountPlan:
        """Show the host's `source` at `target` (its own path by default), read-only unless `writable`.

        A folder shown read-only that others may not enter (a checkout in a 0700 `mktemp -d` folder, a
        user's 0700 project) would stay closed to the sandbox's own uid: its entries are shown one by one
        in an open folder instead, each keeping its own mode, and its links stay links, resolved inside.
        """
        where = Path(target if target is not None else source)
        self._parents(where)
        if self.user.switched and not writable and _closed_to_others(Path(source)):
            entries = _entries(Path(source))
            if entries is not None:
                self.args += ["--perms", "0755", "--dir", str(where)]
                self._made.add(where)
                for entry in entries:
                    if entry.is_symlink():
                        self.args += ["--symlink", os.readlink(entry.path), str(where / entry.name)]
                    else:
                        self.args += ["--ro-bind", entry.path, str(where / entry.name)]
                        self._shown.append(where / entry.name)
                return self
        self.args += ["--bind" if writable else "--ro-bind", str(source), str(where)]
        self._shown.append(where)
        return self

    def option(self, *args: str) -> MountPlan:
        """bubblewrap options that need no folder made (masks inside a shown folder, --chdir, --setenv)."""
        self.args += args
        return self

    def _parents(self, target: Path) -> None:
        if not self.user.switched:
            return  # the sandbox's uid owns what bubblewrap makes
        for parent in reversed(target.parents[:-1]):  # from the top, without "/" itself
            if parent in self._made or parent in self._scratch:
                continue
            if any(parent.is_relative_to(shown) for shown in self._shown):
                continue
            self.args += ["--perms", "0755", "--dir", str(parent)]
            self._made.add(parent)


MAX_ENTRIES_ONE_BY_ONE = 512
"""A closed folder with more entries is shown whole (and stays closed to the sandbox): the command line
would grow past reason."""


def _closed_to_others(path: Path) -> bool:
    """A folder whose mode keeps users other than its owner and group out."""
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and (info.st_mode & 0o005) != 0o005


def _entries(folder: Path) -> list[os.DirEntry[str]] | None:
    """The folder's entries by name, or None when there are too many to show one by one."""
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    if len(entries) > MAX_ENTRIES_ONE_BY_ONE:
        logger.warning(
            "%s is closed to other users (mode %o) and holds %d entries: sandboxes cannot read it; chmod "
            "o+rx it to show it to them",
            folder,
            stat.S_IMODE(folder.stat().st_mode),
            len(entries),
        )
        return None
    return entries


def bwrap_command(
    bwrap: str,
    command: str,
    *,
    user: SandboxUser,
    workdir: Path,
    readonly_dir: Path | None,
    limits: Limits,
    hidden: Sequence[str] = (),
    shown: Sequence[Path] = (),
    extra_args: Sequence[str] = (),
) -> list[str]:
    """argv that runs `command` with a read-only system, no network, no capabilities, as `user`.

    `workdir` is bound writable at /workspace; `readonly_dir` (the user's folder) is visible read-only
    and is where the command starts, so relative paths in the task work. `hidden` are bubblewrap options
    that mask secret files in that folder (see `secret_files`). `shown` are more paths bound read-only at
    their own place (the gui driver's X socket); `extra_args` are bubblewrap options applied after the
    defaults (the gui driver's DISPLAY).
    """
    plan = MountPlan(user).system().bind(workdir, SANDBOX_HOME, writable=True)
    for path in shown:
        plan.bind(path)
    start = SANDBOX_HOME
    if readonly_dir is not None:
        plan.bind(readonly_dir).option(*hidden)
        start = str(readonly_dir)
    environment = {"PATH": LAUNCH_PATH, "HOME": SANDBOX_HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    plan.option("--chdir", start, *namespaces(bwrap, user), "--clearenv")
    for name, value in environment.items():
        plan.option("--setenv", name, value)
    plan.option(*extra_args)
    return [
        *rlimit_prefix(limits, user),
        bwrap,
        *plan.args,
        "--",
        *become(bwrap, user),
        "/bin/sh",
        "-c",
        command,
    ]


def confined_argv(
    bwrap: str,
    argv: Sequence[str],
    *,
    user: SandboxUser,
    cwd: Path,
    writable: Sequence[Path],
    readonly: Sequence[Path] = (),
) -> list[str]:
    """argv that runs `argv` as `bwrap_command` confines a shell command, keeping the caller's environment.

    The system is read-only, homes and secret files are hidden, there is no network and no capability;
    only `writable` can be written. `readonly` paths (an interpreter under /root) are shown again read-only.
    """
    plan = MountPlan(user).system()
    for path in dict.fromkeys(readonly):
        plan.bind(path)
    for path in dict.fromkeys(writable):
        plan.bind(path, writable=True)
    plan.option("--chdir", str(cwd), *namespaces(bwrap, user))
    return [bwrap, *plan.args, "--", *become(bwrap, user), *argv]


def strip_setid(root: Path) -> list[Path]:
    """Clear set-user/group-id bits a sandboxed command left under `root`; returns the files changed.

    Inside the sandbox such a file grants nothing. Outside it grants its owner's uid: the sandbox's own
    where aios runs as root (harmless), the daemon's where the sandbox's uid maps to it. Each file is
    opened without following links and changed through its descriptor, so a file swapped for a link
    meanwhile changes nothing elsewhere.
    """
    changed = []
    for path in root.rglob("*"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            continue  # a link, or gone
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                os.fchmod(fd, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))
                changed.append(path)
        finally:
            os.close(fd)
    return changed


def unsandboxed_command(command: str, *, limits: Limits) -> list[str]:
    """argv for the explicitly allowed unsandboxed mode: rlimits only."""
    return [*rlimit_prefix(limits), "/bin/sh", "-c", command]
