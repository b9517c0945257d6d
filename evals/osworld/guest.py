"""A task's computer without a VM: a fresh home seen as /home/user, a private X display, and one sandbox
(its own pid, network, IPC and mount namespaces) that every command of the task enters."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from Xlib import display as xdisplay

from aios.evals.osworld.apps import CODE_SERVER
from aios.evals.osworld.desktop_profile import home_files
from aios.evals.osworld.task_programs import TERMINAL_LOG_GLOB, task_scripts
from aios.isolation.launch import import_roots
from aios.tools.cgroups import Bounds, Cgroup, bounded
from aios.tools.process_groups import kill_group, stop_group
from aios.tools.sandbox import LAUNCH_PATH, Limits, MountPlan, find_bwrap, launch_environment, strip_setid
from aios.tools.sandbox_user import become, for_job, hand_over_tree, namespaces
from aios.tools.wm_config import openbox_rc
from aios.tools.xserver import VirtualDisplay, wait_for_wm

logger = logging.getLogger(__name__)

HOME = "/home/user"
TOOLS_DIR = "/run/aios-task/bin"
"""Inside the sandbox: the task's own `sudo` and app names, first on PATH."""
RUN_DIR = "/run/user/1000"
BUS = f"unix:path={RUN_DIR}/bus"
WM_RC = "openbox-rc.xml"
HOME_FOLDERS = ("Desktop", "Documents", "Downloads", "Pictures", "Music", "Videos")
START_TIMEOUT_S = 10.0
REAPER = """
import os, signal, time
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(sig, signal.SIG_IGN)
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(1)
"""
INIT = [sys.executable, "-I", "-S", "-c", REAPER]
"""The sandbox's pid 1: reaps orphans, and, as pid 1 without handlers, survives the task's own `pkill`
and `kill -9 -1` (the sandbox, and so the task's computer, lives exactly as long as it does)."""
TASK_LIMITS = Limits(
    cpu_seconds=1800, memory_bytes=0, file_size_bytes=1 << 30, open_files=4096, processes=2048
)
"""Per process. No address-space limit: Chromium reserves terabytes of address space it never uses; the
task's memory is bounded as a whole, by its cgroup."""


class GuestError(RuntimeError):
    """The task's computer could not be set up or reached (an environment failure, never the agent's)."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


@dataclass(frozen=True, kw_only=True)
class GuestConfig:
    """What every task's computer gets."""

    width: int = 1920
    height: int = 1080
    password: str = "password"
    window_manager: str | None = "openbox"
    chromium: str = "/usr/lib/chromium/chromium"
    command_timeout_s: float = 60.0
    limits: Limits = field(default_factory=lambda: TASK_LIMITS)
    memory_mb: int = 4096
    """All of the task computer's processes together (its cgroup, where the machine gives aios cgroups)."""


def _task_scripts(config: GuestConfig) -> dict[str, str]:
    return task_scripts(password=config.password, chromium=config.chromium, home=HOME)


def task_commands() -> set[str]:
    """Names a task's steps may launch that the task computer itself provides."""
    return set(_task_scripts(GuestConfig()))


def check_machine() -> None:
    """Raise GuestError naming what this machine lacks to build task computers (before any task runs)."""
    missing = [
        tool for tool in ("bwrap", "Xvfb", "nsenter", "setpriv", "prlimit", "xterm") if not shutil.which(tool)
    ]
    if importlib.util.find_spec("pyautogui") is None:
        missing.append("pyautogui (pip install --no-deps pyautogui==0.9.54)")
    if missing:
        raise GuestError(
            f"cannot build task computers here; missing: {', '.join(missing)} (see scripts/install.sh)"
        )


EXTRA_KEY = 94
"""The 105-key keyboard's extra key (`<` unshifted, `>` shifted) in Xvfb's default map."""


def _drop_extra_key(display: str) -> None:
    """Make `<` reachable only as Shift+comma, as on a US keyboard.

    pyautogui presses Shift for `<` on the first key that carries it, which is the extra key, where
    Shift gives `>`: typing `wc -l < file` wrote `wc -l > file` and destroyed the file.
    """
    conn = xdisplay.Display(display)
    try:
        conn.change_keyboard_mapping(EXTRA_KEY, [(0,) * 7])
        conn.sync()
    finally:
        conn.close()


class Guest:
    """Start with `start()`, always `stop()`: the display, the sandbox and the files go with it."""

    def __init__(self, config: GuestConfig) -> None:
        self.config = config
        bwrap = find_bwrap()
        if bwrap is None:
            raise GuestError("bubblewrap is not installed (Debian: apt-get install bubblewrap)")
        self.bwrap = bwrap
        self.root = Path(tempfile.mkdtemp(prefix="aios-task-"))
        self.user = for_job()
        """Who the task's programs are on the host (a uid of its own where aios runs as root)."""
        self.home = self.root / "home"
        self.cgroup: Cgroup | None = None
        self.display: VirtualDisplay | None = None
        self._init: subprocess.Popen[bytes] | None = None
        self._init_pid = 0
        self._launched: list[subprocess.Popen[bytes]] = []

    # ---- lifetime ------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._make_files()
            self.display = VirtualDisplay(
                width=self.config.width,
                height=self.config.height,
                depth=24,
                window_manager=None,
                start_timeout_s=START_TIMEOUT_S,
            )
            self.display.start()
            _drop_extra_key(self.display.name)
            self._start_sandbox()
            self.launch(["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={BUS}"])
            self._start_window_manager()
        except BaseException:
            self.stop()
            raise

    def _start_window_manager(self) -> None:
        """Inside the sandbox, as the task's user: what its keys start (Ctrl+Alt+T) runs there too."""
        wm = self.config.window_manager
        if wm is None:
            return
        argv = [wm, "--config-file", f"{TOOLS_DIR}/{WM_RC}"] if wm == "openbox" else [wm]
        proc = self.launch(argv)
        wait_for_wm(self.display_name, proc.poll, timeout_s=START_TIMEOUT_S, name=wm)

    def _make_files(self) -> None:
        for folder in HOME_FOLDERS:
            (self.home / folder).mkdir(parents=True)
        for relative, text in home_files().items():
            (self.home / relative).parent.mkdir(parents=True, exist_ok=True)
            (self.home / relative).write_text(text)
        tools = self.root / "tools"
        tools.mkdir()
        for name, text in _task_scripts(self.config).items():
            (tools / name).write_text(text)
            (tools / name).chmod(0o755)
        (tools / WM_RC).write_text(openbox_rc(terminal="gnome-terminal", maximize=True))
        etc = self.root / "etc"
        etc.mkdir()
        uid = self.user.inside
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/root:/bin/sh\nuser:x:{uid}:{uid}:user:{HOME}:/bin/bash\n"
        )
        (etc / "group").write_text(f"root:x:0:\nuser:x:{uid}:\n")
        (etc / "hostname").write_text("ubuntu\n")
        (self.root / "run").mkdir(mode=0o700)
        hand_over_tree(self.home, self.user)
        hand_over_tree(self.root / "run", self.user)

    def _sandbox_args(self) -> list[str]:
        assert self.display is not None
        interpreter, _ = import_roots()  # for pyautogui actions; the rest of the import path stays hidden
        plan = MountPlan(self.user).system()
        for path in interpreter:
            plan.bind(path)
        if Path(CODE_SERVER).is_dir():
            plan.bind(CODE_SERVER)
        plan.bind(self.home, HOME, writable=True).bind(self.root / "tools", TOOLS_DIR)
        for name in ("passwd", "group", "hostname"):
            plan.bind(self.root / "etc" / name, f"/etc/{name}")
        plan.bind(self.root / "run", RUN_DIR, writable=True).bind(self.display.socket_path)
        plan.option("--hostname", "ubuntu", "--chdir", HOME, *namespaces(self.bwrap, self.user))
        return [self.bwrap, *plan.args]

    def _start_sandbox(self) -> None:
        read_fd, write_fd = os.pipe()
        bounds = Bounds(max_processes=self.config.limits.processes, memory_bytes=self.config.memory_mb << 20)
        self.cgroup = bounded(f"osworld-{self.root.name}", bounds)
        joined = self.cgroup.join() if self.cgroup is not None else []
        sandbox = [*self._sandbox_args(), "--as-pid-1", "--info-fd", str(write_fd)]
        argv = [*joined, *sandbox, "--", *become(self.bwrap, self.user, nested=False), *INIT]
        log = self.root / "sandbox.log"
        try:
            with open(log, "wb") as err:
                self._init = subprocess.Popen(
                    argv,
                    env=launch_environment(),
                    pass_fds=(write_fd,),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
        finally:
            os.close(write_fd)
        with os.fdopen(read_fd, "rb") as info:
            data = info.read()  # bubblewrap closes it once the namespaces exist
        try:
            self._init_pid = int(json.loads(data)["child-pid"])
        except (ValueError, KeyError) as exc:
            self._init.wait(timeout=START_TIMEOUT_S)
            err = log.read_text(errors="replace").strip()
            raise GuestError(f"the task sandbox did not start: {err or exc}") from exc
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Until the sandbox's first process runs our init: its uid map and mounts are in place then
        (the info fd comes earlier, and entering before would fail or see a half-made filesystem)."""
        exe = Path(f"/proc/{self._init_pid}/exe")
        python = Path(sys.executable).resolve()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError):
                if exe.resolve() == python:
                    return
            if self._init is None or self._init.poll() is not None or time.monotonic() > deadline:
                raise GuestError("the task sandbox did not start its first process")
            time.sleep(0.005)

    def stop(self) -> None:
        """Everything in the sandbox dies with its first process; then the display; then the files."""
        for proc in self._launched:
            kill_group(proc.pid)
        if self._init is not None:
            stop_group(self._init, grace_s=0.5)
            self._init = None
        for proc in self._launched:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        self._launched.clear()
        if self.display is not None:
            self.display.stop()
            self.display = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        strip_setid(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- commands ------------------------------------------------------------------------------------

    @property
    def sandbox_pid(self) -> int:
        """The sandbox's first process: its namespaces are the task's."""
        return self._init_pid

    @property
    def display_name(self) -> str:
        assert self.display is not None, "the task's computer is not started"
        return self.display.name

    def _enter(self, argv: Sequence[str], *, cwd: str = HOME) -> list[str]:
        """argv that runs `argv` inside the task's sandbox as its user, with the task's environment."""
        if self._init is None or self._init.poll() is not None:
            raise GuestError("the task's sandbox is not running")
        env = {
            "PATH": f"{TOOLS_DIR}:{LAUNCH_PATH}",
            "HOME": HOME,
            "USER": "user",
            "LOGNAME": "user",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "DISPLAY": self.display_name,
            "DBUS_SESSION_BUS_ADDRESS": BUS,
            "XDG_RUNTIME_DIR": RUN_DIR,
            "ACCESSIBILITY_ENABLED": "1",
            "GTK_A11Y": "atspi",
            "GSETTINGS_BACKEND": "keyfile",
            # Thunderbird uses the profile profiles.ini names as default, as the image's does; without
            # this it makes a new one for each installation path, and a task's unpacked profile is ignored
            "MOZ_LEGACY_PROFILES": "1",
        }
        limits = self.config.limits
        nproc = [f"--nproc={limits.processes}"] if limits.processes and self.user.switched else []
        return [
            *(self.cgroup.join() if self.cgroup is not None else ()),
            shutil.which("prlimit") or "prlimit",
            f"--cpu={limits.cpu_seconds}",
            f"--fsize={limits.file_size_bytes}",
            f"--nofile={limits.open_files}",
            *nproc,
            "--",
            "nsenter",
            f"--target={self._init_pid}",
            "--all",
            f"--setuid={self.user.inside}",
            f"--setgid={self.user.inside}",
            "--",
            "setpriv",
            "--no-new-privs",
            "--",
            "env",
            "-i",
            *[f"{k}={v}" for k, v in env.items()],
            "/bin/sh",
            "-c",
            'cd "$0" && exec "$@"',
            cwd,
            *argv,
        ]

    def run(
        self,
        command: str | Sequence[str],
        *,
        shell: bool = False,
        timeout_s: float | None = None,
        stdin: bytes = b"",
    ) -> CommandResult:
        """Run to completion; a timeout kills the command and is reported, not raised.

        A string is a shell command; a list with `shell` is what Python's `shell=True` makes of it (the
        first item is the script, the rest its positional arguments), as OSWorld's guest does.
        """
        if isinstance(command, str):
            argv = ["/bin/sh", "-c", command]
        elif shell:
            argv = ["/bin/sh", "-c", *command]
        else:
            argv = list(command)
        proc = subprocess.Popen(
            self._enter(argv),
            env=launch_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout_s or self.config.command_timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace_s=0.5)
            out, err = proc.communicate()
            return CommandResult(-9, out.decode(errors="replace"), err.decode(errors="replace"), True)
        return CommandResult(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

    def launch(self, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start a program and leave it running (an app, a daemon); its output goes to a log."""
        log_path = self.root / f"launch-{len(self._launched)}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                self._enter(list(argv)),
                env=launch_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._launched.append(proc)
        return proc

    def read_file(self, path: str) -> bytes | None:
        """A file's bytes as the task's user can read them, or None when it is missing or unreadable."""
        proc = subprocess.run(
            self._enter(["cat", "--", path]),
            env=launch_environment(),
            capture_output=True,
            timeout=self.config.command_timeout_s,
        )
        return proc.stdout if proc.returncode == 0 else None

    def write_file(self, path: str, data: bytes) -> None:
        """Write as the task's user, creating parent folders."""
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1"'
        result = self.run(["/bin/sh", "-c", script, "sh", path], stdin=data)
        if result.returncode != 0:
            raise GuestError(f"cannot write {path} in the task's computer: {result.stderr.strip()}")

    def terminal_log(self) -> str:
        """What the most recently started terminal has shown, or empty when no terminal ran."""
        newest = f"ls -t {TERMINAL_LOG_GLOB} 2>/dev/null | head -n 1 | xargs -r cat"
        return self.run(newest).stdout
