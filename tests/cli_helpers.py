"""Running the `aios` command as a user does: a subprocess with its own environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def aios(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aios", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
