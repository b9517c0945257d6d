"""The text of files a getter copied out of the task computer, for the metrics that compare it."""

from __future__ import annotations

from pathlib import Path


def read_text(path: str | None) -> str | None:
    """A result file's text, or None when the agent never wrote it; bad bytes never fail a metric."""
    if not path or not Path(path).is_file():
        return None
    return Path(path).read_text(encoding="utf-8", errors="replace")
