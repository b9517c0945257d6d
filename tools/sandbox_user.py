"""Who sandboxed code is on the host: a uid that owns nothing, never the daemon's own.

Run as root, aios gives every process its own uid (and every other sandbox, such as an MCP server or a task
computer, one of its own) from a range no account uses, so the kernel's permission checks protect a 0600
file whoever owns it, and one agent's files are not another's. bubblewrap mounts as root, then `setpriv`
becomes that uid with no capabilities and no way to gain any; a second, unprivileged bubblewrap inside
takes away user namespaces.

Run as an ordinary user, aios cannot use other uids: bubblewrap maps the sandbox's uid (65534) to the
daemon's own, as before, and `aios doctor` says so.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import shutil
import stat
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from aios.kernel.errors import SandboxUnavailable

logger = logging.getLogger(__name__)

NOBODY = 65534
"""The uid sandboxed code sees when aios does not run as root."""
UID_BASE = 0x7000_0000
"""First uid of the sandboxes' range, 1879048192: systemd documents 1879048192-2147483647 as used by
nothing, below the 2^31 that some tools cannot handle; ordinary and subordinate uids lie far lower."""
NAMED_UIDS = 512
"""The first uids of the range: long-lived sandboxes by name (an MCP server keeps its uid across restarts)."""
TRANSIENT_UIDS = 512
"""The next: sandboxes that live for one job (an evaluation's task computer), handed out in turn."""
SERVICE_UIDS = NAMED_UIDS + TRANSIENT_UIDS
PROCESS_UIDS = 65536 - SERVICE_UIDS
"""The rest: one per kernel process (pid modulo this)."""
UID_RANGE = range(UID_BASE, UID_BASE + SERVICE_UIDS + PROCESS_UIDS)


@dataclass(frozen=True, kw_only=True)
class SandboxUser:
    """Who one sandbox's code is."""

    uid: int
    """Its host uid (the daemon's own when not `switched`)."""
    switched: bool
    """The launcher runs as root and becomes `uid` inside the sandbox; False: bubblewrap maps the sandbox's
    uid to the daemon's own (aios runs as an ordinary user)."""

    @property
    def gid(self) -> int:
        return self.uid

    @property
    def inside(self) -> int:
        """The uid the sandboxed code sees."""
        return self.uid if self.switched else NOBODY


def switching() -> bool:
    """Whether sandboxes get uids of their own: only root may become another uid."""
    return os.geteuid() == 0


def for_process(pid: int) -> SandboxUser:
    """The uid of kernel process `pid`'s sandboxes: its agent code, its commands, its apps."""
    if not switching():
        return SandboxUser(uid=os.geteuid(), switched=False)
    return SandboxUser(uid=UID_BASE + SERVICE_UIDS + pid % PROCESS_UIDS, switched=True)


def for_service(name: str) -> SandboxUser:
    """The uid of a long-lived sandbox called `name` (stable across restarts: its folders stay its own)."""
    if not switching():
        return SandboxUser(uid=os.geteuid(), switched=False)
    return SandboxUser(uid=UID_BASE + zlib.crc32(name.encode()) % NAMED_UIDS, switched=True)


_transient = itertools.count()


def for_job() -> SandboxUser:
    """A uid for a sandbox that lives for one job, none of the named ones (512 in turn, then again)."""
    if not switching():
        return SandboxUser(uid=os.geteuid(), switched=False)
    return SandboxUser(uid=UID_BASE + NAMED_UIDS + next(_transient) % TRANSIENT_UIDS, switched=True)


def namespaces(bwrap: str, user: SandboxUser, *, network: bool = False) -> list[str]:
    """bubblewrap's options for the sandbox's namespaces: no network unless asked, its own pids, and no
    capabilities (dropped by bubblewrap, or left behind by `become`)."""
    shared = ["--share-net"] if network else []
    common = ["--die-with-parent", "--new-session"]
    if user.switched:
        if not supports(bwrap, "--perms"):
            raise SandboxUnavailable(
                f"{bwrap} is older than bubblewrap 0.5 (no --perms): it cannot make the folders a sandbox of "
                "a uid of its own must cross; install a newer bubblewrap"
            )
        net = [] if network else ["--unshare-net"]
        return ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", *net, *common]
    nested = ["--disable-userns"] if supports(bwrap, "--disable-userns") else []
    uid = ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    return ["--unshare-all", *shared, *uid, "--cap-drop", "ALL", *nested, *common]


def become(bwrap: str, user: SandboxUser, *, nested: bool = True) -> list[str]:
    """The command prefix inside the sandbox that turns root (who mounted) into `user`: no capabilities,
    no supplementary groups, no new privileges, and (with `nested`) no user namespaces where the machine
    allows them (a task computer's first process must be its own, so it goes without)."""
    if not user.switched:
        return []
    setpriv = [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    if not nested or not nested_userns_blockable(bwrap):
        return setpriv
    return [
        *setpriv,
        bwrap,
        "--unshare-user",
        "--disable-userns",
        "--dev-bind",
        "/",
        "/",
        "--die-with-parent",
        "--",
    ]


def uid_clashes(etc: Path = Path("/etc")) -> set[str]:
    """Accounts, groups and subordinate id ranges that reach into the sandboxes' range (a sandbox's gid is
    its uid): they should not, a sandbox would own their files."""
    found = set()
    for table, what in (("passwd", "account"), ("group", "group")):
        path = etc / table
        for line in path.read_text().splitlines() if path.is_file() else []:
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit() and int(fields[2]) in UID_RANGE:
                found.add(f"{what} {fields[0]}")
    for table in ("subuid", "subgid"):
        path = etc / table
        for line in path.read_text().splitlines() if path.is_file() else []:
            fields = line.split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                start, count = int(fields[1]), int(fields[2])
                if start < UID_RANGE.stop and start + count > UID_RANGE.start:
                    found.add(f"{table} range of {fields[0]}")
    return found


def hand_over(path: Path, user: SandboxUser) -> None:
    """Make `path` (a folder the sandbox writes: its work dir) the sandbox user's; a link is left alone (the
    sandbox may have planted it, pointing anywhere)."""
    if not user.switched:
        return
    info = path.lstat()
    if not stat.S_ISLNK(info.st_mode) and info.st_uid != user.uid:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def hand_over_tree(root: Path, user: SandboxUser) -> None:
    """`hand_over` for a folder the sandbox's run owns whole (a scratch folder aios filled for it)."""
    if not user.switched:
        return
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.chown(Path(folder) / name, user.uid, user.gid, follow_symlinks=False)
    os.chown(root, user.uid, user.gid, follow_symlinks=False)


@functools.cache
def supports(bwrap: str, option: str) -> bool:
    """Whether this bubblewrap knows `option` (0.5 added `--perms`, 0.8 `--disable-userns`)."""
    try:
        usage = subprocess.run(
            [bwrap, "--help"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    if option not in usage:
        logger.warning("%s has no %s", bwrap, option)
        return False
    return True


def unprivileged_userns() -> bool:
    """Whether this machine lets an unprivileged user make a user namespace (`--disable-userns` stops it)."""
    setpriv = [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={UID_BASE}",
        f"--regid={UID_BASE}",
        "--clear-groups",
    ]
    unshare = [shutil.which("unshare") or "unshare", "--user", "true"]
    try:
        done = subprocess.run(
            [*setpriv, *unshare], capture_output=True, env={"PATH": "/usr/bin:/bin"}, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def nested_userns_blockable(bwrap: str) -> bool:
    """Whether an unprivileged bubblewrap can start inside a sandbox to forbid user namespaces there.

    Where it cannot, the machine does not let unprivileged users make user namespaces at all (a sysctl, or
    AppArmor's restriction), and the sandbox's code cannot either.
    """
    if not supports(bwrap, "--disable-userns"):
        return False
    probe = [
        bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
        "--die-with-parent", "--",
        shutil.which("setpriv") or "setpriv", f"--reuid={UID_BASE}", f"--regid={UID_BASE}", "--clear-groups",
        "--no-new-privs", "--",
        bwrap, "--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--", "/bin/true",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            probe, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        logger.warning("could not try nested user namespaces: %s", e)
        return False
    if done.returncode != 0:
        logger.warning(
            "an unprivileged bubblewrap cannot start inside a sandbox (%s): sandboxes are not kept from "
            "making user namespaces, where the machine lets unprivileged users make them",
            done.stderr.strip()[-200:],
        )
    return done.returncode == 0
