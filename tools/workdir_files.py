"""Files the kernel writes into a process's work dir for it (screenshots, downloads).

The sandboxed agent owns its work dir and may have planted links there while a call ran: every step here
holds a folder descriptor and refuses links, so a write as root can never land outside the work dir.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from aios.kernel.errors import ToolError
from aios.tools.sandbox_user import SandboxUser

_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC


def save_for(workdir: Path, folder: str, name: str, data: bytes, user: SandboxUser) -> Path:
    """Write `data` as `workdir/folder/name` (`name-1`, `name-2`... if taken), owned by `user`."""
    root = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | _NO_LINK)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o755, dir_fd=root)
        try:
            inside = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _NO_LINK, dir_fd=root)
        except OSError as e:
            raise ToolError(f"{workdir / folder} is not a folder of the work dir ({e.strerror})") from e
    finally:
        os.close(root)
    try:
        if user.switched:
            os.fchown(inside, user.uid, user.gid)
        stem, dot, suffix = name.rpartition(".") if "." in name.strip(".") else (name, "", "")
        for counter in range(10_000):
            candidate = name if counter == 0 else f"{stem}-{counter}{dot}{suffix}"
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINK, 0o644, dir_fd=inside)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as out:
                if user.switched:
                    os.fchown(out.fileno(), user.uid, user.gid)
                out.write(data)
            return workdir / folder / candidate
        raise ToolError(f"{workdir / folder} holds too many files named like {name!r}")
    finally:
        os.close(inside)
