"""The bubblewrap command line of an agent process: Python and its packages read-only, one socket to the
kernel, a private work dir, nothing else."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import shutil
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from aios.isolation.child import AGENT_SOCKET
from aios.tools.sandbox import LAUNCH_PATH, SANDBOX_HOME, Limits, MountPlan, rlimit_prefix
from aios.tools.sandbox_user import SandboxUser, become, namespaces
from aios.tools.secret_files import SECRET_FILE_PATTERNS, find_secrets, mask_args

SECRETS_FRESH_S = 30.0
"""How long a search for secret files in a project folder is reused (spawns come in bursts)."""
CHILD_MODULE = "aios.isolation.child"


def _interpreter_paths() -> list[Path]:
    """Where this Python and its standard library live."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    paths.add(str(Path(sys.executable).resolve().parent))
    return [Path(p) for p in paths if Path(p).exists()]


def _editable_projects() -> list[Path]:
    """Source folders of packages installed in editable mode (their files are outside site-packages)."""
    found = []
    for dist in importlib.metadata.distributions():
        text = dist.read_text("direct_url.json")
        if not text:
            continue
        try:
            info = json.loads(text)
        except ValueError:
            continue
        if info.get("dir_info", {}).get("editable") and str(info.get("url", "")).startswith("file://"):
            path = Path(unquote(urlparse(info["url"]).path))
            if path.is_dir():
                found.append(path)
    return found


def import_roots() -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(folders of the interpreter, other folders on the import path): what an agent process must see."""
    return _import_roots(tuple(sys.path))


@functools.cache
def _import_roots(_path: tuple[str, ...]) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Computed once per import path: a package installed into a folder already on it while the kernel
    runs is seen; a new editable install needs a restart."""
    interpreter = _interpreter_paths()
    others = [Path(p) for p in sys.path if p and Path(p).is_dir()]
    others += _editable_projects()
    inside = [p for p in others if not any(p.is_relative_to(i) for i in interpreter)]
    return tuple(sorted(set(interpreter))), tuple(sorted(set(inside)))


@functools.lru_cache(maxsize=64)
def _secrets(project: Path, patterns: tuple[str, ...], _period: int) -> tuple[Path, ...]:
    return tuple(find_secrets(project, patterns))


def agent_argv(
    bwrap: str,
    *,
    user: SandboxUser,
    socket: Path | None,
    workdir: Path,
    limits: Limits,
    hidden_names: Sequence[str] = SECRET_FILE_PATTERNS,
    masked: Sequence[Path] = (),
    nice: int = 0,
) -> list[str]:
    """argv of `python -m aios.isolation.child` confined like a shell command, as `user`, plus the kernel's
    socket.

    Folders on the import path that are not the interpreter's (a project installed in editable mode) are
    shown with their secret files masked; `masked` folders (the data dir, an evaluation's tasks) are hidden
    wherever they lie among what is shown.
    """
    interpreter, projects = import_roots()
    niceness = [shutil.which("nice") or "nice", "-n", str(nice)] if nice else []
    plan = MountPlan(user).system()
    for path in (*interpreter, *projects):
        plan.bind(path)
    period = int(time.monotonic() // SECRETS_FRESH_S)
    for project in projects:
        plan.option(*mask_args(_secrets(project, tuple(hidden_names), period)))
    roots = (*interpreter, *projects)
    for path in masked:
        # a folder among what is shown, never one that holds code the agent runs on
        if any(path.is_relative_to(p) for p in roots) and not any(p.is_relative_to(path) for p in roots):
            plan.option("--tmpfs", str(path))
    plan.bind(workdir, SANDBOX_HOME, writable=True)
    if socket is not None:
        plan.bind(socket, AGENT_SOCKET)
    python_path = ":".join(str(p) for p in sys.path if p and Path(p).is_dir())
    environment = {
        "PATH": LAUNCH_PATH,
        "HOME": SANDBOX_HOME,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": python_path,
    }
    plan.option("--chdir", SANDBOX_HOME, *namespaces(bwrap, user), "--clearenv")
    for name, value in environment.items():
        plan.option("--setenv", name, value)
    python = [sys.executable, "-P", "-m", CHILD_MODULE]
    return [*niceness, *rlimit_prefix(limits, user), bwrap, *plan.args, "--", *become(bwrap, user), *python]
