"""The private X server agents work on: Xvfb and its window manager, started, stopped and reaped."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror

from aios.kernel.errors import ToolError
from aios.tools.process_groups import alive, kill, pids_where, stop_group
from aios.tools.wm_config import openbox_rc

logger = logging.getLogger(__name__)

_POLL_S = 0.02
_USER_SESSION_VARS = ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY")
"""Variables that would send a child to the user's own screen instead of ours."""


def display_env(base: Mapping[str, str], display: str) -> dict[str, str]:
    """`base` with the user's screen variables replaced by our display, for a child's environment only."""
    env = {k: v for k, v in base.items() if k not in _USER_SESSION_VARS}
    env["DISPLAY"] = display
    return env


OWNER_VAR = "AIOS_GUI_OWNER"
"""Set in the environment of every display process the driver starts: the pid of the aios that owns it."""


def owned_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` marked as belonging to this aios process, so a later one can reap it if this one is killed."""
    return {**base, OWNER_VAR: str(os.getpid())}


def reap_orphans() -> list[int]:
    """Kill display processes whose owning aios died without stopping them (SIGKILL, OOM); returns them.

    A dying process cannot stop its children, and a parent-death signal would follow the worker thread
    that started them, not the process: so the next aios to open a display cleans up instead.
    """
    marker = f"{OWNER_VAR}=".encode()

    def orphaned(environ: bytes) -> bool:
        owner = next((v[len(marker) :] for v in environ.split(b"\0") if v.startswith(marker)), None)
        return owner is not None and owner.isdigit() and not alive(int(owner))

    reaped = [pid for pid in sorted(pids_where("environ", orphaned)) if kill(pid)]
    if reaped:
        logger.warning("killed display processes left by a dead aios: %s", reaped)
    return reaped


def wait_for_wm(display: str, exit_code: Callable[[], int | None], *, timeout_s: float, name: str) -> None:
    """Block until the window manager manages a probe window it is shown.

    _NET_SUPPORTING_WM_CHECK alone is not enough: openbox sets it before it handles map requests, and
    a window mapped in that gap is never shown (seen in about half of all starts).
    """
    conn = xdisplay.Display(display)
    try:
        root = conn.screen().root
        client_list = conn.intern_atom("_NET_CLIENT_LIST")
        deadline = time.monotonic() + timeout_s
        while True:
            probe = root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
            probe.map()
            conn.sync()
            managed = _poll_managed(root, client_list, probe.id, min(deadline, time.monotonic() + 0.1))
            probe.destroy()
            conn.sync()
            if managed:
                return
            if (code := exit_code()) is not None:
                raise ToolError(f"gui: window manager {name!r} exited with code {code}")
            if time.monotonic() > deadline:
                raise ToolError(f"gui: window manager {name!r} not ready within {timeout_s:.0f}s")
    except xerror.DisplayError as e:
        raise ToolError(f"gui: cannot reach {display} while starting the window manager: {e}") from e
    finally:
        conn.close()


def _poll_managed(root: Any, client_list: int, window_id: int, until: float) -> bool:
    while time.monotonic() < until:
        listed = root.get_full_property(client_list, X.AnyPropertyType)
        if listed is not None and window_id in listed.value:
            return True
        time.sleep(_POLL_S / 4)
    return False


class VirtualDisplay:
    """One Xvfb server and its window manager; the user's DISPLAY is never read or changed."""

    def __init__(
        self,
        *,
        width: int,
        height: int,
        depth: int,
        window_manager: str | None,
        start_timeout_s: float,
        xvfb: str = "Xvfb",
    ) -> None:
        self.width, self.height, self.depth = width, height, depth
        self.window_manager = window_manager
        self.start_timeout_s = start_timeout_s
        self.xvfb = xvfb
        self.number: int | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.wm: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None
        """Private folder for the window manager's home and the server's log, removed on stop."""

    @property
    def name(self) -> str:
        """The display name (`:N`) children get in DISPLAY."""
        assert self.number is not None, "the display is not started"
        return f":{self.number}"

    @property
    def socket_path(self) -> Path:
        """The server's Unix socket, bound into sandboxes so sandboxed apps can draw."""
        return Path(f"/tmp/.X11-unix/X{self.number}")

    def alive(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def start(self) -> None:
        """Start Xvfb on a free display number, then the window manager; blocks until both are ready."""
        binary = shutil.which(self.xvfb)
        if binary is None:
            raise ToolError(f"gui: {self.xvfb!r} not found on PATH (Debian: apt-get install xvfb)")
        wm_binary = None
        if self.window_manager is not None:
            wm_binary = shutil.which(self.window_manager)
            if wm_binary is None:
                raise ToolError(
                    f"gui: window manager {self.window_manager!r} not found on PATH "
                    "(install it, or set gui.window_manager to none)"
                )
        reap_orphans()
        self.run_dir = Path(tempfile.mkdtemp(prefix="aios-gui-"))
        try:
            self._start_server(binary)
            if wm_binary is not None:
                self._start_wm(wm_binary)
        except BaseException:
            self.stop()
            raise

    def _start_server(self, binary: str) -> None:
        assert self.run_dir is not None
        read_fd, write_fd = os.pipe()
        screen = f"{self.width}x{self.height}x{self.depth}"
        # -br: a black root, so an empty screen is uniform; -noreset: survive the last client leaving
        argv = [
            binary,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            screen,
            "-nolisten",
            "tcp",
            "-br",
            "-noreset",
        ]
        try:
            with open(self.run_dir / "xvfb.log", "wb") as log:
                self.server = subprocess.Popen(
                    argv,
                    env=owned_env(os.environ),
                    pass_fds=(write_fd,),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            os.close(write_fd)
            write_fd = -1
            self.number = self._read_display_number(read_fd)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        logger.info("Xvfb :%d started (%s, pid %d)", self.number, screen, self.server.pid)

    def _read_display_number(self, read_fd: int) -> int:
        """Xvfb writes `N\\n` once it accepts clients; it dies if the pipe closes before the newline."""
        data = b""
        deadline = time.monotonic() + self.start_timeout_s
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(left, 0))
            chunk = os.read(read_fd, 32) if ready else b""
            if not chunk:
                raise ToolError(
                    f"gui: Xvfb did not start within {self.start_timeout_s:.0f}s: {self._log_tail()}"
                )
            data += chunk
        return int(data)

    def _start_wm(self, binary: str) -> None:
        assert self.run_dir is not None
        # a home of its own, so the window manager neither reads nor writes the user's settings
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.run_dir), "LANG": "C.UTF-8"}
        argv = [binary]
        if Path(binary).name == "openbox":
            rc = self.run_dir / "openbox-rc.xml"
            rc.write_text(openbox_rc())
            argv += ["--config-file", str(rc)]
        with open(self.run_dir / "wm.log", "wb") as log:
            self.wm = subprocess.Popen(
                argv,
                env=owned_env(display_env(env, self.name)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wm = self.wm
        wait_for_wm(self.name, wm.poll, timeout_s=self.start_timeout_s, name=self.window_manager or binary)
        logger.info("window manager %s started on %s (pid %d)", self.window_manager, self.name, self.wm.pid)

    def _log_tail(self) -> str:
        assert self.run_dir is not None
        with contextlib.suppress(OSError):
            text = (self.run_dir / "xvfb.log").read_text(errors="replace").strip()
            return text[-500:] or "(no output)"
        return "(no log)"

    def stop(self) -> None:
        """Stop the window manager, then the server (whole process groups, reaped); idempotent."""
        for proc in (self.wm, self.server):
            if proc is not None:
                stop_group(proc)
        if self.server is not None:
            logger.info("Xvfb :%s stopped", self.number)
        self.wm = self.server = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
