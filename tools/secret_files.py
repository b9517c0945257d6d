"""Finds the secret files in the user's folder that sandboxed commands must not read, and masks them."""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

SECRET_FILE_PATTERNS = (
    ".env", ".env.*", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".npmrc", ".pypirc", ".pgpass",
    ".git-credentials", ".htpasswd", "credentials", "credentials.json", "*.tfstate", "*.tfstate.backup",
    "*.token",
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".password-store", "gcloud",
)  # fmt: skip
"""Names (globs) hidden by default: key files, credential stores, and folders that hold them."""

SKIPPED_FOLDERS = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache"})
"""Large folders not searched for secrets (the walk must stay fast on every command)."""

MAX_SCANNED = 20_000
"""Entries looked at before the search stops; the walk is top-down, so shallow secrets are found first."""


def find_secrets(root: Path, patterns: Iterable[str], *, max_scanned: int = MAX_SCANNED) -> list[Path]:
    """Files and folders under `root` whose names match `patterns`, symlinks resolved to what they show."""
    patterns = tuple(patterns)
    if not patterns:
        return []
    # one compiled alternation instead of a glob match per pattern per entry
    matches = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match
    found: dict[Path, None] = {}
    scanned = 0
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        kept = []
        for name in [*dirs, *files]:
            scanned += 1
            if matches(name):
                found[_shown(here / name)] = None
            elif name in dirs and name not in SKIPPED_FOLDERS:
                kept.append(name)
        dirs[:] = kept  # a hidden folder is hidden whole: no need to look inside
        if scanned >= max_scanned:
            logger.warning(
                "stopped looking for secret files in %s after %d entries; deeper ones are not hidden",
                root,
                scanned,
            )
            break
    return [path for path in found if path.exists()]


def _shown(path: Path) -> Path:
    """What reading `path` would show: a symlink's target, so the file itself is masked, not the link."""
    return path.resolve() if path.is_symlink() else path


def mask_args(secrets: Iterable[Path]) -> list[str]:
    """bubblewrap options that show each secret file as empty and each secret folder as an empty folder."""
    args: list[str] = []
    for path in secrets:
        if path.is_dir():
            args += ["--tmpfs", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    return args
