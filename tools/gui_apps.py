"""Apps the `gui` driver launches: their command line (sandboxed or not), their start and their stop."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aios.kernel.errors import SandboxUnavailable, ToolError
from aios.tools.configs import GuiConfig
from aios.tools.process_groups import stop_group
from aios.tools.sandbox import (
    Limits,
    bwrap_command,
    find_bwrap,
    launch_environment,
    rlimit_prefix,
    strip_setid,
)
from aios.tools.sandbox_user import for_process, hand_over
from aios.tools.xserver import display_env, owned_env

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class App:
    """An app started by `gui.launch`: its process group leader and its captured stderr."""

    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    workdir: Path
    stopped: bool = False

    def stop(self) -> None:
        """Stop the app's process group once; a second call must not signal a reused process id."""
        if self.stopped:
            return
        self.stopped = True
        stop_group(self.proc)
        self.log.close()
        clear_setid(self.workdir)

    def log_tail(self) -> str:
        """The end of what the app wrote, for an error that says why it failed."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace").strip()[-500:] or "(no output)"


def clear_setid(workdir: Path) -> None:
    """Sandboxed apps write as nobody, mapped to the caller's uid outside: no setuid file may stay behind."""
    stripped = strip_setid(workdir)
    if stripped:
        logger.warning("cleared setuid/setgid bits of %s", [str(p) for p in stripped])


def app_argv(config: GuiConfig, argv: list[str], *, display: str, workdir: Path, pid: int) -> list[str]:
    """`argv` under the app rlimits, inside bubblewrap as process `pid`'s user unless apps run unsandboxed."""
    limits = Limits(
        cpu_seconds=config.app_cpu_seconds,
        memory_bytes=config.app_memory_mb * 1024 * 1024,
        file_size_bytes=config.app_file_size_mb * 1024 * 1024,
        processes=config.app_max_processes,
    )
    if not config.sandbox_apps:
        return [*rlimit_prefix(limits), *argv]
    bwrap = find_bwrap(config.bwrap)
    if bwrap is None:
        raise SandboxUnavailable(
            f"gui.launch refused: {config.bwrap!r} not found (apt-get install bubblewrap), "
            "or set gui.sandbox_apps = false"
        )
    number = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if number is None:
        raise SandboxUnavailable(f"gui.launch: sandboxed apps need a local display, not {display!r}")
    socket = Path(f"/tmp/.X11-unix/X{number.group(1)}")
    extra = ["--setenv", "DISPLAY", display, "--setenv", "SHELL", shutil.which("bash") or "/bin/sh"]
    user = for_process(pid)
    workdir.mkdir(parents=True, exist_ok=True)
    hand_over(workdir, user)
    return bwrap_command(
        bwrap,
        f"exec {shlex.join(argv)}",
        user=user,
        workdir=workdir,
        readonly_dir=None,
        limits=limits,
        shown=[socket],
        extra_args=extra,
    )


def start_app(name: str, argv: list[str], *, display: str, workdir: Path, sandboxed: bool) -> App:
    """Start the app in a process group of its own, marked as this aios's so a later one can reap it."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call; App.stop closes it
    try:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            # a sandboxed app gets DISPLAY from bubblewrap; bubblewrap itself must not carry our secrets
            env=owned_env(launch_environment() if sandboxed else display_env(os.environ, display)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    except OSError as e:
        log.close()
        raise ToolError(f"gui.launch: cannot start {name}: {e}") from e
    logger.info("launched %s on %s (pid %d)", name, display, proc.pid)
    return App(name=name, proc=proc, log=log, workdir=workdir)
