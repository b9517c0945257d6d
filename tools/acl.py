"""Grants one uid read-write access to a folder with POSIX ACLs, leaving owners and modes as they are.

A stdio MCP server runs as a sandbox uid of its own, yet config grants it a folder of the user's to read
and write: an ACL entry for that uid says so without taking the folder from its owner. It is written at
each start of the server, so files added meanwhile are granted too; no default ACL is set (it would
override the umask of the folder's owner). Written as the kernel's `system.posix_acl_access` attribute;
as `setfacl` does, the mask is widened to let the entry through.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Sequence
from pathlib import Path

ACCESS = "system.posix_acl_access"
_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
Entry = tuple[int, int, int]
"""(tag, permission bits rwx, id)"""


class AclUnsupported(OSError):
    """The file system keeps no ACLs."""


def _decode(blob: bytes) -> list[Entry]:
    (version,) = struct.unpack_from("<I", blob)
    if version != _VERSION:
        raise ValueError(f"unknown ACL version {version}")
    return [struct.unpack_from("<HHI", blob, offset) for offset in range(4, len(blob), 8)]


def _encode(entries: list[Entry]) -> bytes:
    ordered = sorted(entries, key=lambda e: (e[0], e[2]))
    return struct.pack("<I", _VERSION) + b"".join(struct.pack("<HHI", *e) for e in ordered)


def _from_mode(mode: int) -> list[Entry]:
    return [
        (_USER_OBJ, mode >> 6 & 7, _NO_ID),
        (_GROUP_OBJ, mode >> 3 & 7, _NO_ID),
        (_OTHER, mode & 7, _NO_ID),
    ]


def _with_user(entries: list[Entry], uid: int, perms: int) -> list[Entry]:
    """`entries` with `uid` given `perms`, and the mask widened to let them through."""
    kept = [e for e in entries if not (e[0] == _USER and e[2] == uid) and e[0] != _MASK]
    kept.append((_USER, perms, uid))
    group_class = [e[1] for e in kept if e[0] in (_USER, _GROUP, _GROUP_OBJ)]
    mask = 0
    for bits in group_class:
        mask |= bits
    return [*kept, (_MASK, mask, _NO_ID)]


def _read(path: Path, name: str, mode: int) -> list[Entry]:
    try:
        return _decode(os.getxattr(path, name, follow_symlinks=False))
    except OSError as e:
        if e.errno == errno.ENODATA:
            return _from_mode(mode)
        raise


def _write(path: Path, name: str, entries: list[Entry]) -> None:
    try:
        os.setxattr(path, name, _encode(entries), follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise AclUnsupported(e.errno, f"{path} is on a file system without POSIX ACLs") from e
        raise


def grant(path: Path, uid: int) -> None:
    """Give `uid` read and write (and search, on folders) on `path`."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return  # a link's target is granted where it lies inside the folder, never outside it
    perms = 7 if stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_IXUSR else 6
    _write(path, ACCESS, _with_user(_read(path, ACCESS, info.st_mode), uid, perms))


def grant_tree(root: Path, uid: int, *, skip: Sequence[Path] = ()) -> None:
    """`grant` on `root` and everything below it except the `skip` folders (the runtime's own data)."""
    grant(root, uid)
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not any((here / d).is_relative_to(s) for s in skip)]
        for name in [*dirs, *files]:
            grant(here / name, uid)
