"""An X client connection: windows, focus, keyboard and pointer input, and screenshots on a display."""

from __future__ import annotations

import re
import time
from typing import Any

from PIL import Image, ImageGrab
from pydantic import BaseModel
from Xlib import XK, X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.protocol import event as xevent

from aios.kernel.errors import InvalidSyscall, ToolError

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
