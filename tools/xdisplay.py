"""The X display agents work on: the private server (Xvfb and its window manager) and the driver's client."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageGrab
from pydantic import BaseModel
from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.protocol import event as xevent

from aios.kernel.errors import InvalidSyscall, ToolError
from aios.tools.wm_config import openbox_rc

logger = logging.getLogger(__name__)

STOP_GRACE_S = 3.0
"""How long a stopped program may take to exit after SIGTERM before it gets SIGKILL."""
_POLL_S = 0.02
_USER_SESSION_VARS = ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY")
"""Variables that would send a child to the user's own screen instead of ours."""
_DRAG_STEPS = 10
"""Pointer moves between a drag's press and release, so toolkits see a drag, not a jump."""
_SHIFT = XK.string_to_keysym("Shift_L")
_KEY_ALIASES = {
    "ctrl": "Control_L",
    "control": "Control_L",
    "alt": "Alt_L",
    "shift": "Shift_L",
    "super": "Super_L",
    "win": "Super_L",
    "cmd": "Super_L",
    "meta": "Meta_L",
    "enter": "Return",
    "return": "Return",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "space": "space",
    "backspace": "BackSpace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pagedown": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "capslock": "Caps_Lock",
    "printscreen": "Print",
    "menu": "Menu",
}
_CHAR_KEYS = {"\n": "Return", "\t": "Tab"}


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
    reaped = []
    marker = f"{OWNER_VAR}=".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        owner = next((v[len(marker) :] for v in environ if v.startswith(marker)), None)
        if owner is None or not owner.isdigit() or _alive(int(owner)):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(entry.name), signal.SIGKILL)
            reaped.append(int(entry.name))
    if reaped:
        logger.warning("killed display processes left by a dead aios: %s", reaped)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen[bytes], *, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group led by `proc`, SIGKILL it after `grace_s`, and reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group
        return
    proc.wait()


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


class WindowInfo(BaseModel):
    """A top-level window as agents see it; position and size in screen pixels."""

    id: int
    title: str
    x: int
    y: int
    width: int
    height: int
    focused: bool


def keysym_for_name(name: str) -> int:
    """A key name as agents write it (`ctrl`, `enter`, `f5`, `a`, or an X keysym name) as a keysym."""
    lowered = name.strip().lower()
    if len(name) == 1:
        return _keysym_for_char(name)
    if lowered in _KEY_ALIASES:
        return XK.string_to_keysym(_KEY_ALIASES[lowered])
    if re.fullmatch(r"f([1-9]|1[0-9]|2[0-4])", lowered):
        return XK.string_to_keysym(lowered.upper())
    for candidate in (name.strip(), name.strip().capitalize()):
        keysym = XK.string_to_keysym(candidate)
        if keysym:
            return keysym
    raise InvalidSyscall(
        f"gui.hotkey: unknown key {name!r}; use a character, F1-F24, an X keysym name or one of "
        f"{', '.join(sorted(_KEY_ALIASES))}"
    )


def _keysym_for_char(char: str) -> int:
    if char in _CHAR_KEYS:
        return XK.string_to_keysym(_CHAR_KEYS[char])
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code  # Latin-1 keysyms equal their code points
    return 0x01000000 | code  # the Unicode keysym range


class XSession:
    """python-xlib (XTEST input) and Pillow's XCB grab, not pyautogui: in-process, no process-wide DISPLAY.

    The driver's one connection to its display. Not thread-safe: the driver calls it from worker threads one
    at a time, under its lock.
    """

    def __init__(self, name: str, *, focus_timeout_s: float) -> None:
        self.name = name
        self.focus_timeout_s = focus_timeout_s
        try:
            self.conn = xdisplay.Display(name)
        except (xerror.DisplayError, OSError) as e:
            raise ToolError(f"gui: cannot connect to X display {name}: {e}") from e
        self._errors: list[str] = []
        self.conn.set_error_handler(lambda err, *_: self._errors.append(str(err)))
        if not self.conn.has_extension("XTEST"):
            self.conn.close()
            raise ToolError(f"gui: X display {name} lacks the XTEST extension needed for input")
        self.root = self.conn.screen().root
        self.width = self.conn.screen().width_in_pixels
        self.height = self.conn.screen().height_in_pixels
        self._atoms = {
            n: self.conn.intern_atom(n)
            for n in (
                "_NET_CLIENT_LIST",
                "_NET_ACTIVE_WINDOW",
                "_NET_SUPPORTING_WM_CHECK",
                "_NET_WM_NAME",
                "_NET_CLOSE_WINDOW",
                "UTF8_STRING",
            )
        }
        self._keys: dict[int, tuple[int, bool]] = {}  # keysym -> (keycode, needs shift)
        self._spare: list[int] = []  # keycodes with no keysym, borrowed for characters the layout lacks
        self._borrowed: dict[int, int] = {}  # keysym -> borrowed keycode, oldest first
        self._load_keymap()

    def close(self) -> None:
        self.conn.close()

    def has_wm(self) -> bool:
        return (
            self.root.get_full_property(self._atoms["_NET_SUPPORTING_WM_CHECK"], X.AnyPropertyType)
            is not None
        )

    def _sync(self, what: str) -> None:
        """Flush requests and surface X errors they caused as a ToolError naming the operation."""
        self.conn.sync()
        if self._errors:
            errors, self._errors = self._errors, []
            raise ToolError(f"gui.{what}: the X server refused it: {'; '.join(errors)[:300]}")

    # ---- pointer -------------------------------------------------------------------------------------

    def _move(self, x: int, y: int) -> None:
        self.conn.xtest_fake_input(X.MotionNotify, x=x, y=y)

    def _button(self, button: int, *, count: int = 1) -> None:
        for _ in range(count):
            self.conn.xtest_fake_input(X.ButtonPress, button)
            self.conn.xtest_fake_input(X.ButtonRelease, button)

    def click(self, x: int, y: int, button: int, count: int) -> None:
        self._move(x, y)
        self._button(button, count=count)
        self._sync("click")

    def drag(self, x1: int, y1: int, x2: int, y2: int) -> None:
        self._move(x1, y1)
        self.conn.xtest_fake_input(X.ButtonPress, 1)
        self._sync("drag")
        for step in range(1, _DRAG_STEPS + 1):
            # intermediate motion so toolkits see a drag past their threshold, not a teleport
            self._move(x1 + (x2 - x1) * step // _DRAG_STEPS, y1 + (y2 - y1) * step // _DRAG_STEPS)
            self._sync("drag")
            time.sleep(0.005)
        self.conn.xtest_fake_input(X.ButtonRelease, 1)
        self._sync("drag")

    def scroll(self, x: int, y: int, button: int, clicks: int) -> None:
        self._move(x, y)
        self._button(button, count=clicks)
        self._sync("scroll")

    # ---- keyboard ------------------------------------------------------------------------------------

    def _load_keymap(self) -> None:
        info = self.conn.display.info
        first = info.min_keycode
        rows = self.conn.get_keyboard_mapping(first, info.max_keycode - first + 1)
        for level in (0, 1):  # unshifted first, so a keysym found both ways is typed without shift
            for offset, row in enumerate(rows):
                keysym = row[level] if level < len(row) else 0
                if keysym and keysym not in self._keys:
                    self._keys[keysym] = (first + offset, level == 1)
        self._spare = [first + offset for offset, row in enumerate(rows) if not any(row)]

    def _keycode(self, keysym: int) -> tuple[int, bool]:
        """The key that produces `keysym`; a character the layout lacks borrows a spare keycode."""
        found = self._keys.get(keysym)
        if found is not None:
            return found
        if self._spare:
            code = self._spare.pop(0)
        else:
            if not self._borrowed:
                raise ToolError("gui: the keyboard map has no spare keycode to type this character")
            oldest, code = next(iter(self._borrowed.items()))
            del self._borrowed[oldest], self._keys[oldest]
            time.sleep(0.1)  # let apps read keys typed with the old meaning before it changes
        self.conn.change_keyboard_mapping(code, [(keysym, keysym)])
        self._sync("type")
        self._borrowed[keysym] = code
        self._keys[keysym] = (code, False)
        return code, False

    def _press(self, keysyms: list[int]) -> None:
        """Press the keys together (shift added where the layout needs it), then release in reverse."""
        pressed: list[int] = []
        for keysym in keysyms:
            code, shift = self._keycode(keysym)
            if shift:
                pressed.append(self._keycode(_SHIFT)[0])
            pressed.append(code)
        for code in pressed:
            self.conn.xtest_fake_input(X.KeyPress, code)
        for code in reversed(pressed):
            self.conn.xtest_fake_input(X.KeyRelease, code)

    def type_text(self, text: str) -> None:
        for char in text:
            self._press([_keysym_for_char(char)])
        self._sync("type")

    def hotkey(self, keysyms: list[int]) -> None:
        self._press(keysyms)
        self._sync("hotkey")

    # ---- windows -------------------------------------------------------------------------------------

    def _client_windows(self) -> list[Any]:
        """Managed windows from the window manager's list; without one, the viewable top-level windows."""
        listed = self.root.get_full_property(self._atoms["_NET_CLIENT_LIST"], X.AnyPropertyType)
        if listed is not None:
            return [self.conn.create_resource_object("window", wid) for wid in listed.value]
        windows = []
        for child in self.root.query_tree().children:
            attrs = child.get_attributes()
            if attrs.map_state == X.IsViewable and not attrs.override_redirect:
                windows.append(child)
        return windows

    def _focused_id(self) -> int:
        active = self.root.get_full_property(self._atoms["_NET_ACTIVE_WINDOW"], X.AnyPropertyType)
        if active is not None and len(active.value):
            return int(active.value[0])
        focus = self.conn.get_input_focus().focus
        return focus.id if hasattr(focus, "id") else 0

    def _title(self, window: Any) -> str:
        net = window.get_full_property(self._atoms["_NET_WM_NAME"], self._atoms["UTF8_STRING"])
        if net is not None:
            return bytes(net.value).decode(errors="replace")
        name = window.get_wm_name()
        return name.decode(errors="replace") if isinstance(name, bytes) else name or ""

    def windows(self) -> list[WindowInfo]:
        focused = self._focused_id()
        infos = []
        for window in self._client_windows():
            try:
                geometry = window.get_geometry()
                origin = self.root.translate_coords(window, 0, 0)
                title = self._title(window)
            except xerror.XError:
                continue  # closed while we looked
            infos.append(
                WindowInfo(
                    id=window.id,
                    title=title,
                    x=origin.x,
                    y=origin.y,
                    width=geometry.width,
                    height=geometry.height,
                    focused=window.id == focused,
                )
            )
        self._errors.clear()  # BadWindow reports for windows that vanished mid-listing
        return infos

    def focus(self, window_id: int) -> None:
        """Raise and focus a window: through the window manager when there is one, else directly."""
        window = self.conn.create_resource_object("window", window_id)
        if self.has_wm():
            self._send_active_window(window)
        else:
            window.configure(stack_mode=X.Above)
            window.set_input_focus(X.RevertToParent, X.CurrentTime)
        self._sync("focus_window")
        deadline = time.monotonic() + self.focus_timeout_s
        while self._focused_id() != window_id:
            if time.monotonic() > deadline:
                raise ToolError(f"gui.focus_window: window {window_id} did not take the focus")
            time.sleep(0.01)

    def close_window(self, window_id: int) -> None:
        """Ask the window manager to close a window, as its close button does (the app may ask first)."""
        window = self.conn.create_resource_object("window", window_id)
        message = xevent.ClientMessage(
            window=window,
            client_type=self._atoms["_NET_CLOSE_WINDOW"],
            data=(32, [X.CurrentTime, 2, 0, 0, 0]),
        )
        self.root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self._sync("close_window")

    def window_class(self, window_id: int) -> str:
        """The window's WM_CLASS (instance and class, space-separated); empty when it has none."""
        found = self.conn.create_resource_object("window", window_id).get_wm_class()
        return " ".join(found) if found else ""

    def _send_active_window(self, window: Any) -> None:
        message = xevent.ClientMessage(
            window=window,
            client_type=self._atoms["_NET_ACTIVE_WINDOW"],
            data=(32, [2, X.CurrentTime, 0, 0, 0]),  # 2: the request comes from a pager, so it is obeyed
        )
        mask = X.SubstructureRedirectMask | X.SubstructureNotifyMask
        self.root.send_event(message, event_mask=mask)

    # ---- screen --------------------------------------------------------------------------------------

    def screenshot(self) -> Image.Image:
        """The whole screen: through Pillow's XCB grab where it can (half the time), else python-xlib."""
        depth = self.conn.screen().root_depth
        if depth in (24, 32):
            return ImageGrab.grab(xdisplay=self.name)
        image = self.root.get_image(0, 0, self.width, self.height, X.ZPixmap, 0xFFFFFFFF)
        if image.depth == 16:
            stride = len(image.data) // self.height
            return Image.frombytes("RGB", (self.width, self.height), image.data, "raw", "BGR;16", stride)
        raise ToolError(f"gui.screenshot: a {image.depth}-bit screen is not supported (use 16 or 24)")
