"""The `gui` driver: mouse, keyboard, windows, screenshots and app launches on an X display it owns."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from Xlib import error as xerror

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.errors import InvalidSyscall, ToolError
from aios.tools.configs import GuiConfig
from aios.tools.gui_apps import App, app_argv, clear_setid, start_app
from aios.tools.sandbox_user import for_process
from aios.tools.screen_images import encode, fitted_size
from aios.tools.workdir_files import save_for
from aios.tools.xclient import WindowInfo, XSession, keysym_for_name
from aios.tools.xserver import VirtualDisplay

logger = logging.getLogger(__name__)

T = TypeVar("T")
_POLL_S = 0.05
_BUTTONS = {"left": 1, "middle": 2, "right": 3}
_SCROLL_BUTTONS = {"up": 4, "down": 5, "left": 6, "right": 7}


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    """Arguments of `gui.list_windows`: none (`gui.screenshot` takes them too, as its defaults)."""


class ScreenshotArgs(_Args):
    """Arguments of `gui.screenshot`."""

    full_size: bool = Field(
        default=False,
        description="The screen at its own size, not scaled down: for small print (a larger image).",
    )


class PointArgs(_Args):
    """A point on the screen, in pixels from the top-left corner."""

    x: int = Field(ge=0, description="Pixels from the left edge of the screen.")
    y: int = Field(ge=0, description="Pixels from the top edge of the screen.")


class ClickArgs(PointArgs):
    button: Literal["left", "middle", "right"] = "left"


class DragArgs(_Args):
    x1: int = Field(ge=0, description="Start, pixels from the left.")
    y1: int = Field(ge=0, description="Start, pixels from the top.")
    x2: int = Field(ge=0, description="End, pixels from the left.")
    y2: int = Field(ge=0, description="End, pixels from the top.")


class TypeArgs(_Args):
    text: str = Field(
        min_length=1, max_length=4000, description="Text to type; a newline presses Enter.", examples=["ls\n"]
    )

    @field_validator("text")
    @classmethod
    def _no_control_characters(cls, text: str) -> str:
        bad = sorted({c for c in text if (ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F})
        if bad:
            raise ValueError(f"only newline and tab may be typed of the control characters, not {bad}")
        return text


class HotkeyArgs(_Args):
    keys: list[str] = Field(
        min_length=1,
        max_length=6,
        description="Keys pressed together, modifiers first, e.g. ['ctrl', 's'] or ['alt', 'f4'].",
    )


class ScrollArgs(PointArgs):
    clicks: int = Field(default=3, ge=1, le=50, description="Wheel steps.")
    direction: Literal["up", "down", "left", "right"] = "down"


class FocusArgs(_Args):
    window: int | str = Field(
        description="A window id from gui.list_windows, or a regular expression found in its title."
    )


class LaunchArgs(_Args):
    app: str = Field(min_length=1, description="Name of an allowed app.")
    args: list[str] = Field(default_factory=list, max_length=32, description="Extra command-line arguments.")


class GuiDriver(Driver):
    """Mouse, keyboard and screen of a private X display, so agents work beside the user, not on their own."""

    name = "gui"
    exclusive = True  # one screen, one pointer, one keyboard focus

    def __init__(self, config: GuiConfig | None = None) -> None:
        self.config = config or GuiConfig()
        self.display: VirtualDisplay | None = None
        """The Xvfb the driver started, None before open or when driving a display named in config."""
        self._session: XSession | None = None
        self._lock = threading.Lock()  # the X connection serves one operation at a time
        self._apps: dict[int, list[App]] = {}  # aios pid -> apps it launched

    @property
    def display_name(self) -> str | None:
        """The X display operations act on, once open."""
        return self._session.name if self._session is not None else None

    def operations(self) -> dict[str, Operation]:
        size = f"{self.config.width}x{self.config.height}"
        shot = self.config.screenshot
        image_size = "x".join(map(str, fitted_size(self.config.width, self.config.height, shot)))
        specs: list[tuple[str, str, type[BaseModel], RiskLevel]] = [
            (
                "screenshot",
                f"Save the {size} screen as a {image_size} {shot.format.upper()} in the work dir; returns "
                "its path, width and height, and the screen's screen_width and screen_height. A point (x, y) "
                "of the image is (x * screen_width / width, y * screen_height / height) on the screen, where "
                "clicks go.",
                ScreenshotArgs,
                RiskLevel.READ,
            ),
            (
                "list_windows",
                "List open windows: id, title, position, size, which has the focus.",
                NoArgs,
                RiskLevel.READ,
            ),
            ("click", f"Click at (x, y) on the {size} screen.", ClickArgs, RiskLevel.WRITE),
            ("double_click", "Double-click with the left button at (x, y).", PointArgs, RiskLevel.WRITE),
            (
                "right_click",
                "Right-click at (x, y), e.g. to open a context menu.",
                PointArgs,
                RiskLevel.WRITE,
            ),
            (
                "drag",
                "Press the left button at (x1, y1), move to (x2, y2), release.",
                DragArgs,
                RiskLevel.WRITE,
            ),
            ("type", "Type text into the focused window; '\\n' presses Enter.", TypeArgs, RiskLevel.WRITE),
            ("hotkey", "Press keys together, e.g. ['ctrl', 'c'].", HotkeyArgs, RiskLevel.WRITE),
            ("scroll", "Turn the mouse wheel at (x, y).", ScrollArgs, RiskLevel.WRITE),
            ("focus_window", "Raise a window and give it the keyboard focus.", FocusArgs, RiskLevel.WRITE),
            (
                "launch",
                f"Start an app ({', '.join(sorted(self.config.apps))}) and wait for its window.",
                LaunchArgs,
                RiskLevel.WRITE,
            ),
        ]
        return {
            name: Operation(
                name=name,
                description=description,
                args_model=model,
                risk=risk,
                timeout_s=self.config.launch_timeout_s + 5 if name == "launch" else self.config.timeout_s,
                capability=f"gui.{name}",
            )
            for name, description, model, risk in specs
        }

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._session is None:
            await asyncio.to_thread(self._open)

    def _open(self) -> None:
        if self.config.display is not None:
            self._session = XSession(self.config.display, focus_timeout_s=self.config.timeout_s)
            return
        display = VirtualDisplay(
            width=self.config.width,
            height=self.config.height,
            depth=self.config.depth,
            window_manager=self.config.window_manager,
            start_timeout_s=self.config.start_timeout_s,
        )
        display.start()
        try:
            self._session = XSession(display.name, focus_timeout_s=self.config.timeout_s)
        except BaseException:
            display.stop()
            raise
        self.display = display

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            for apps in self._apps.values():
                for app in apps:
                    app.stop()
            self._apps.clear()
            if self._session is not None:
                self._session.close()
                self._session = None
            if self.display is not None:
                self.display.stop()
                self.display = None

    async def release(self, pid: int) -> None:
        """Stop the apps the ended process launched."""
        apps = self._apps.pop(pid, [])
        for app in apps:
            await asyncio.to_thread(app.stop)

    def unconfined(self) -> frozenset[str]:
        """Clicks, keys and screenshots go through the daemon's own X connection to the one display every
        process shares (another user's windows included); without `sandbox_apps`, apps run as the daemon's
        OS user."""
        return frozenset({"*"})

    async def health(self) -> DriverHealth:
        if self._session is None:
            if self.config.display is None and shutil.which("Xvfb") is None:
                return DriverHealth(ok=False, detail="Xvfb not found on PATH (Debian: apt-get install xvfb)")
            where = self.config.display or f"a private Xvfb {self.config.width}x{self.config.height}"
            return DriverHealth(ok=True, detail=f"not started; the first call opens {where}")
        if self.display is None:
            wm = "a window manager" if await self._x(lambda s: s.has_wm()) else "no window manager"
            return DriverHealth(
                ok=True, detail=f"user display {self._session.name} (not owned by aios), {wm}"
            )
        if not self.display.alive():
            return DriverHealth(ok=False, detail=f"Xvfb {self.display.name} has exited")
        wm = self.config.window_manager or "none"
        sandbox = "sandboxed" if self.config.sandbox_apps else "UNSANDBOXED"
        return DriverHealth(
            ok=True,
            detail=(
                f"Xvfb {self.display.name} {self.config.width}x{self.config.height}x{self.config.depth} "
                f"(pid {self.display.server.pid if self.display.server else '?'}), window manager {wm}, "
                f"{sandbox} apps"
            ),
        )

    # ---- calls ---------------------------------------------------------------------------------------

    async def _x(self, fn: Callable[[XSession], T]) -> T:
        """Run `fn` on the X connection in a worker thread, one at a time; a dead server resets the driver."""
        await self.open()

        def locked() -> T:
            with self._lock:
                assert self._session is not None, "gui driver closed during a call"
                return fn(self._session)

        try:
            return await asyncio.to_thread(locked)
        except xerror.XError as e:
            raise ToolError(f"gui: the X server refused a request: {e}") from e
        except (xerror.ConnectionClosedError, xerror.DisplayError, OSError) as e:
            name = self.display_name
            await self.close()
            raise ToolError(
                f"gui: lost the X display {name} ({e}); its apps are gone, the next call starts a new one"
            ) from e

    def _check_point(self, operation: str, *points: tuple[int, int]) -> None:
        assert self._session is not None
        width, height = self._session.width, self._session.height
        for x, y in points:
            if x >= width or y >= height:
                raise InvalidSyscall(
                    f"gui.{operation}: point ({x}, {y}) is off the {width}x{height} screen "
                    f"(x must be 0..{width - 1}, y 0..{height - 1})"
                )

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> dict[str, Any]:
        try:
            return await self._call(operation, args, ctx)
        finally:
            if self._apps.get(ctx.pid):
                await asyncio.to_thread(clear_setid, ctx.workdir)

    async def _call(self, operation: str, args: BaseModel, ctx: CallContext) -> dict[str, Any]:
        await self.open()
        if isinstance(args, (PointArgs, DragArgs)):
            points = (
                [(args.x1, args.y1), (args.x2, args.y2)] if isinstance(args, DragArgs) else [(args.x, args.y)]
            )
            self._check_point(operation, *points)
        match operation, args:
            case "screenshot", ScreenshotArgs(full_size=full_size):
                return await self._screenshot(ctx, use_full_size=full_size)
            case "screenshot", NoArgs():
                return await self._screenshot(ctx, use_full_size=False)
            case "list_windows", NoArgs():
                windows = await self._x(lambda s: s.windows())
                return {"windows": [w.model_dump() for w in windows]}
            case "click", ClickArgs(x=x, y=y, button=button):
                await self._x(lambda s: s.click(x, y, _BUTTONS[button], 1))
                return {"clicked": [x, y], "button": button}
            case "double_click", PointArgs(x=x, y=y):
                await self._x(lambda s: s.click(x, y, 1, 2))
                return {"double_clicked": [x, y]}
            case "right_click", PointArgs(x=x, y=y):
                await self._x(lambda s: s.click(x, y, 3, 1))
                return {"right_clicked": [x, y]}
            case "drag", DragArgs(x1=x1, y1=y1, x2=x2, y2=y2):
                await self._x(lambda s: s.drag(x1, y1, x2, y2))
                return {"dragged": [[x1, y1], [x2, y2]]}
            case "type", TypeArgs(text=text):
                await self._x(lambda s: s.type_text(text))
                return {"typed_chars": len(text)}
            case "hotkey", HotkeyArgs(keys=keys):
                keysyms = [keysym_for_name(k) for k in keys]
                await self._x(lambda s: s.hotkey(keysyms))
                return {"pressed": "+".join(keys)}
            case "scroll", ScrollArgs(x=x, y=y, clicks=clicks, direction=direction):
                await self._x(lambda s: s.scroll(x, y, _SCROLL_BUTTONS[direction], clicks))
                return {"scrolled": direction, "clicks": clicks, "at": [x, y]}
            case "focus_window", FocusArgs(window=window):
                return {"focused": (await self._focus(window)).model_dump()}
            case "launch", LaunchArgs():
                return await self._launch(args, ctx)
        raise InvalidSyscall(f"gui has no operation {operation!r} taking {type(args).__name__}")

    async def _screenshot(self, ctx: CallContext, *, use_full_size: bool) -> dict[str, Any]:
        image = await self._x(lambda s: s.screenshot())
        config = self.config.screenshot

        def encode_and_save() -> dict[str, Any]:  # scaling and compressing take a CPU for tens of ms
            shot = encode(image, config, use_full_size=use_full_size)
            ctx.workdir.mkdir(parents=True, exist_ok=True)
            name = f"screenshot-{time.time_ns()}{shot.suffix}"
            path = save_for(ctx.workdir, ".", name, shot.data, for_process(ctx.pid))  # owned by the agent
            return shot.output(path)

        return await asyncio.to_thread(encode_and_save)

    async def _focus(self, target: int | str) -> WindowInfo:
        windows = await self._x(lambda s: s.windows())
        if isinstance(target, str) and re.fullmatch(r"0x[0-9a-fA-F]+|\d+", target.strip()):
            target = int(target.strip(), 0)
        if isinstance(target, int):
            matches = [w for w in windows if w.id == target]
        else:
            try:
                pattern = re.compile(target, re.IGNORECASE)
            except re.error as e:
                raise InvalidSyscall(f"gui.focus_window: {target!r} is not a valid title pattern: {e}") from e
            matches = [w for w in windows if pattern.search(w.title)]
        if len(matches) != 1:
            listing = "; ".join(f"{w.id} {w.title!r}" for w in (matches or windows)) or "none"
            problem = "matches no window" if not matches else f"matches {len(matches)} windows"
            raise InvalidSyscall(f"gui.focus_window: {target!r} {problem} (windows: {listing})")
        [window] = matches
        await self._x(lambda s: s.focus(window.id))
        return window.model_copy(update={"focused": True})

    # ---- apps ----------------------------------------------------------------------------------------

    async def _launch(self, args: LaunchArgs, ctx: CallContext) -> dict[str, Any]:
        base = self.config.apps.get(args.app)
        if base is None:
            raise InvalidSyscall(
                f"gui.launch: {args.app!r} is not an allowed app; allowed: {sorted(self.config.apps)}"
            )
        if shutil.which(base[0]) is None:
            raise ToolError(f"gui.launch: {base[0]!r} (app {args.app!r}) is not installed")
        display = self.display_name
        assert display is not None
        argv = app_argv(self.config, [*base, *args.args], display=display, workdir=ctx.workdir, pid=ctx.pid)
        before = {w.id for w in await self._x(lambda s: s.windows())}
        app = await asyncio.to_thread(self._spawn, args.app, argv, ctx)
        try:
            window = await self._wait_for_window(app, before)
        except BaseException:
            if app in self._apps.get(ctx.pid, []):
                self._apps[ctx.pid].remove(app)
            await asyncio.to_thread(app.stop)
            raise
        return {"app": args.app, "pid": app.proc.pid, "window": window.model_dump() if window else None}

    def _spawn(self, name: str, argv: list[str], ctx: CallContext) -> App:
        """Start the app and file it under the calling process at once: a cancelled launch leaks nothing."""
        display = self.display_name
        assert display is not None
        app = start_app(name, argv, display=display, workdir=ctx.workdir, sandboxed=self.config.sandbox_apps)
        with self._lock:
            self._apps.setdefault(ctx.pid, []).append(app)
        return app

    async def _wait_for_window(self, app: App, before: set[int]) -> WindowInfo | None:
        """The app's first new window, or None if it shows none in time; an early exit is an error."""
        deadline = time.monotonic() + self.config.launch_timeout_s
        while time.monotonic() < deadline:
            new = [w for w in await self._x(lambda s: s.windows()) if w.id not in before]
            if new:
                return new[0]
            if app.proc.poll() is not None:
                raise ToolError(
                    f"gui.launch: {app.name} exited with code {app.proc.returncode} before showing a window: "
                    f"{app.log_tail()}"
                )
            await asyncio.sleep(_POLL_S)
        logger.warning("%s showed no window within %.0fs", app.name, self.config.launch_timeout_s)
        return None
