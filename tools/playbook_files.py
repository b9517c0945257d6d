"""The files a playbook pulls in, as the guard finds them: inside the work dir, UTF-8, bounded, hashed.

Relative names resolve in every folder ansible would search; each candidate must lie inside the root. The
hash of each file read lets a later run tell whether anything changed since it was checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aios.kernel.errors import InvalidSyscall
from aios.tools.playbook_yaml import Unsafe

MAX_FILES = 64
MAX_FILE_BYTES = 1024 * 1024
ADJACENT_DIRS = frozenset({"library", "module_utils", "collections", "host_vars", "group_vars"})
"""Folders beside a playbook that ansible loads plugins or variables from (so do `*_plugins/`)."""


@dataclass
class PlaybookFiles:
    """Finds and reads the files of one guard call; problems go to `report`, the call's list."""

    root: Path
    """The work dir, resolved."""
    main: Path
    """The playbook the call names; shown as `main_name` (YAML text has no file name of its own)."""
    main_name: str
    report: Callable[[str], None]
    hashes: dict[str, str] = field(default_factory=dict)
    """File (relative to the root) -> sha256 of every file read."""

    def resolve(
        self, name: Any, where: str, *, bases: tuple[Path, ...], subdirs: tuple[str, ...] = ("",)
    ) -> list[Path]:
        """Files a relative path may name (ansible searches several folders); all must be in the root."""
        if not isinstance(name, str) or not name.strip() or isinstance(name, Unsafe):
            self.report(f"{where}: expected a file name, got {name!r}")
            return []
        if any(mark in name for mark in ("{{", "{%")):
            self.report(f"{where}: {name!r} must be a literal path (templated paths cannot be checked)")
            return []
        if Path(name).is_absolute() or name.startswith("~"):
            self.report(f"{where}: {name!r} must be relative to the playbook's folder")
            return []
        found: list[Path] = []
        for base in dict.fromkeys(bases):
            for subdir in subdirs:
                candidate = (base / subdir / name).resolve()
                if not candidate.exists():
                    continue
                if not candidate.is_relative_to(self.root):
                    self.report(f"{where}: {name!r} leads outside the work dir")
                    return []
                if candidate.is_file() and candidate not in found:
                    found.append(candidate)
        if not found:
            self.report(f"{where}: {name!r} is not a file in the work dir")
        return found

    def read(self, path: Path, where: str) -> str | None:
        """The file's text, recorded; None (with a problem reported) if it cannot be checked."""
        if len(self.hashes) >= MAX_FILES:
            raise InvalidSyscall(f"playbook refused: it reads more than {MAX_FILES} files")
        try:
            data = path.read_bytes()
        except OSError as e:
            self.report(f"{where}: cannot read {self.rel(path)}: {e.strerror}")
            return None
        if len(data) > MAX_FILE_BYTES:
            self.report(f"{where}: {self.rel(path)} is larger than {MAX_FILE_BYTES} bytes")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.report(f"{where}: {self.rel(path)} is not UTF-8 text")
            return None
        self.record(path, text)
        return text

    def record(self, path: Path, text: str) -> None:
        self.hashes[self.rel(path)] = hashlib.sha256(text.encode()).hexdigest()

    def refuse_adjacent(self, folder: Path) -> None:
        """Ansible loads plugins and variables from folders beside a playbook: refuse them."""
        try:
            names = sorted(p.name for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for name in names:
            if name in ADJACENT_DIRS or name.endswith("_plugins"):
                self.report(
                    f"{self.rel(folder) or '.'}/{name}/ beside the playbook would be loaded by ansible "
                    "(plugins or variables that run unchecked); remove it or move the playbook"
                )

    def rel(self, path: Path) -> str:
        """How messages name a file: the main playbook by its name, others relative to the root."""
        resolved = path.resolve()
        if resolved == self.main:
            return self.main_name
        return resolved.relative_to(self.root).as_posix() if resolved.is_relative_to(self.root) else str(path)
