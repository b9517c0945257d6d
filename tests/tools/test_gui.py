"""The gui driver on a real Xvfb: windows get its input, the apps it launches act on disk, nothing leaks."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from Xlib import XK, X
from Xlib import display as xdisplay

from aios.kernel.drivers import CallContext
from aios.kernel.errors import InvalidSyscall, ToolError
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ToolSyscall
from aios.tools.gui import (
    ClickArgs,
    DragArgs,
    FocusArgs,
    GuiConfig,
    GuiDriver,
    HotkeyArgs,
    LaunchArgs,
    NoArgs,
    PointArgs,
    ScrollArgs,
    TypeArgs,
)
from aios.tools.sandbox_user import for_process
from aios.tools.xserver import reap_orphans

from ..fakes import until


class Recorder:
    """A plain X window, made with python-xlib on the driver's display, that records the input it gets."""

    def __init__(self, display_name: str, title: str, *, width: int = 300, height: int = 200) -> None:
        self.conn = xdisplay.Display(display_name)
        screen = self.conn.screen()
        mask = X.ButtonPressMask | X.ButtonReleaseMask | X.KeyPressMask | X.Button1MotionMask
        self.window = screen.root.create_window(
            0,
            0,
            width,
            height,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=screen.white_pixel,
            event_mask=mask,
        )
        self.window.set_wm_name(title)
        self.window.map()
        self.conn.sync()

    def events(self) -> list[Any]:
        self.conn.sync()
        received = []
        while self.conn.pending_events():
            received.append(self.conn.next_event())
        return received

    async def events_until(self, kind: int, count: int) -> list[Any]:
        """Events up to the `count`th of `kind`: a window manager's pointer grab replays clicks late."""
        received: list[Any] = []
        for _ in range(200):
            received += self.events()
            if sum(e.type == kind for e in received) >= count:
                await asyncio.sleep(0.05)
                return received + self.events()
            await asyncio.sleep(0.01)
        raise AssertionError(f"only {sum(e.type == kind for e in received)} of {count} events of type {kind}")

    def typed(self) -> str:
        """Text of the KeyPress events received, read with the server's current keyboard map."""
        first = self.conn.display.info.min_keycode
        rows = self.conn.get_keyboard_mapping(first, self.conn.display.info.max_keycode - first + 1)
        text = []
        for event in self.events():
            if event.type != X.KeyPress:
                continue
            keysym = rows[event.detail - first][1 if event.state & X.ShiftMask else 0]
            if 0xFE00 <= keysym <= 0xFFFF:
                continue  # modifiers and function keys: not text
            text.append(chr(keysym & 0xFFFFFF if keysym > 0x01000000 else keysym))  # Latin-1 or Unicode
        return "".join(text)

    def close(self) -> None:
        self.window.destroy()
        self.conn.close()


@pytest.fixture
def ctx(tmp_path: Path) -> CallContext:
    work = tmp_path / "work"
    work.mkdir()
    return CallContext(pid=1, workdir=work)


@pytest.fixture
async def driver() -> AsyncIterator[GuiDriver]:
    gui = GuiDriver()
    await gui.open()
    yield gui
    await gui.close()


async def listed(driver: GuiDriver, ctx: CallContext, *windows: Recorder) -> list[dict[str, Any]]:
    """The entries of `windows` in gui.list_windows, once the window manager has placed them all."""
    wanted = [w.window.id for w in windows]
    for _ in range(200):
        found = {w["id"]: w for w in (await driver.call("list_windows", NoArgs(), ctx))["windows"]}
        if all(i in found for i in wanted):
            return [found[i] for i in wanted]
        await asyncio.sleep(0.05)
    raise AssertionError(f"windows {wanted} never showed up in list_windows")


@pytest.fixture
async def recorder(driver: GuiDriver, ctx: CallContext) -> AsyncIterator[tuple[Recorder, dict[str, Any]]]:
    """A recording window, once the window manager has placed it; with its entry from list_windows."""
    assert driver.display_name is not None
    window = Recorder(driver.display_name, "aios recorder")
    try:
        [entry] = await listed(driver, ctx, window)
        window.events()  # drop what mapping produced
        yield window, entry
    finally:
        window.close()


def running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def test_xterm_runs_typed_commands_in_the_sandbox(driver: GuiDriver, ctx: CallContext) -> None:
    launched = await driver.call("launch", LaunchArgs(app="xterm"), ctx)
    window = launched["window"]
    assert window is not None and window["title"] == "xterm"
    windows = await driver.call("list_windows", NoArgs(), ctx)
    assert [w["id"] for w in windows["windows"]] == [window["id"]]

    focused = await driver.call("focus_window", FocusArgs(window="XTERM"), ctx)
    assert focused["focused"]["id"] == window["id"] and focused["focused"]["focused"]
    await driver.call("type", TypeArgs(text="echo typed-by-aios > marker.txt; id -u > uid.txt\n"), ctx)
    marker = ctx.workdir / "marker.txt"
    await until(lambda: marker.exists() and marker.read_text(), "the marker file")
    assert marker.read_text() == "typed-by-aios\n"
    await until(lambda: (ctx.workdir / "uid.txt").exists(), "uid.txt")
    uid = await until(lambda: (ctx.workdir / "uid.txt").read_text(), "uid.txt written")
    assert uid == f"{for_process(ctx.pid).inside}\n"  # sandboxed, as the process's own uid

    # a setuid file made in the sandbox is owned by the caller's uid outside: the next call clears the bit
    await driver.call("type", TypeArgs(text="cp /bin/sh sh; chmod u+s sh; touch chmodded\n"), ctx)
    await until(lambda: (ctx.workdir / "chmodded").exists(), "chmodded")
    await driver.call("list_windows", NoArgs(), ctx)
    assert not (ctx.workdir / "sh").stat().st_mode & (stat.S_ISUID | stat.S_ISGID)

    # characters the keyboard layout lacks are typed too
    await driver.call("type", TypeArgs(text="printf 'héllo €~' > unicode.txt\n"), ctx)
    unicode = ctx.workdir / "unicode.txt"
    assert await until(lambda: unicode.exists() and unicode.read_text(), "unicode.txt") == "héllo €~"

    # ctrl+c interrupts the long sleep, so the next command runs at once and `never` is not created
    await driver.call("type", TypeArgs(text="sleep 60 && touch never.txt\n"), ctx)
    await asyncio.sleep(0.3)
    assert await driver.call("hotkey", HotkeyArgs(keys=["ctrl", "c"]), ctx) == {"pressed": "ctrl+c"}
    await driver.call("type", TypeArgs(text="touch after.txt\n"), ctx)
    await until(lambda: (ctx.workdir / "after.txt").exists(), "after.txt")
    assert not (ctx.workdir / "never.txt").exists()


async def test_pointer_operations_reach_the_window_under_them(
    driver: GuiDriver, ctx: CallContext, recorder: tuple[Recorder, dict[str, Any]]
) -> None:
    window, entry = recorder
    x, y = entry["x"] + 50, entry["y"] + 40

    async def presses(count: int) -> list[tuple[int, int, int]]:
        events = await window.events_until(X.ButtonPress, count)
        return [(e.detail, e.event_x, e.event_y) for e in events if e.type == X.ButtonPress]

    await driver.call("click", ClickArgs(x=x, y=y), ctx)
    assert await presses(1) == [(1, 50, 40)]
    await driver.call("click", ClickArgs(x=x + 10, y=y, button="middle"), ctx)
    assert await presses(1) == [(2, 60, 40)]
    await driver.call("right_click", PointArgs(x=x, y=y + 5), ctx)
    assert await presses(1) == [(3, 50, 45)]
    await driver.call("double_click", PointArgs(x=x, y=y), ctx)
    assert await presses(2) == [(1, 50, 40), (1, 50, 40)]
    await driver.call("scroll", ScrollArgs(x=x, y=y, clicks=3, direction="down"), ctx)
    await driver.call("scroll", ScrollArgs(x=x, y=y, clicks=1, direction="up"), ctx)
    assert [button for button, _, _ in await presses(4)] == [5, 5, 5, 4]

    await driver.call("drag", DragArgs(x1=x, y1=y, x2=x + 100, y2=y + 60), ctx)
    events = await window.events_until(X.ButtonRelease, 1)
    kinds = [e.type for e in events]
    assert kinds[0] == X.ButtonPress and kinds[-1] == X.ButtonRelease
    assert kinds.count(X.MotionNotify) >= 5  # moved while held, not a jump
    assert (events[0].event_x, events[0].event_y) == (50, 40)
    assert (events[-1].event_x, events[-1].event_y) == (150, 100)


async def test_typing_and_hotkeys_reach_the_focused_window(
    driver: GuiDriver, ctx: CallContext, recorder: tuple[Recorder, dict[str, Any]]
) -> None:
    window, entry = recorder
    focused = await driver.call("focus_window", FocusArgs(window=str(entry["id"])), ctx)
    assert focused["focused"]["title"] == "aios recorder"
    text = "Hello, World! 123 ~_|{} äé€"
    assert await driver.call("type", TypeArgs(text=text), ctx) == {"typed_chars": len(text)}
    assert window.typed() == text

    await driver.call("hotkey", HotkeyArgs(keys=["ctrl", "s"]), ctx)
    await driver.call("hotkey", HotkeyArgs(keys=["alt", "F5"]), ctx)  # alt+F4 would be openbox's
    presses = [e for e in await window.events_until(X.KeyPress, 4) if e.type == X.KeyPress]
    keysym = window.conn.keycode_to_keysym
    assert [keysym(e.detail, 0) for e in presses] == [
        XK.string_to_keysym(name) for name in ("Control_L", "s", "Alt_L", "F5")
    ]
    assert presses[1].state & X.ControlMask and presses[3].state & X.Mod1Mask


async def test_screenshot_is_a_png_of_the_screen(driver: GuiDriver, ctx: CallContext) -> None:
    empty = await driver.call("screenshot", NoArgs(), ctx)
    assert (empty["width"], empty["height"]) == (1280, 800)
    path = Path(empty["path"])
    assert path.parent == ctx.workdir
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1280, 800)
        assert image.getextrema() == ((0, 0), (0, 0), (0, 0))  # a black root and nothing on it
    assert driver.display_name is not None
    window = Recorder(driver.display_name, "white", width=400, height=300)
    try:
        await listed(driver, ctx, window)
        shown = await driver.call("screenshot", NoArgs(), ctx)
        with Image.open(shown["path"]) as image:
            assert image.size == (1280, 800)
            colours = image.getcolors(maxcolors=1 << 16)
            assert colours is not None and len(colours) > 1
            assert max(count for count, _ in colours) < 1280 * 800
    finally:
        window.close()
    assert shown["path"] != empty["path"]


async def test_a_16_bit_screen_without_a_window_manager(ctx: CallContext) -> None:
    gui = GuiDriver(GuiConfig(width=640, height=480, depth=16, window_manager=None))
    try:
        await gui.open()
        assert gui.display_name is not None
        window = Recorder(gui.display_name, "bare")
        try:
            [entry] = await listed(gui, ctx, window)
            assert (entry["x"], entry["y"], entry["width"], entry["height"]) == (0, 0, 300, 200)
            with Image.open((await gui.call("screenshot", NoArgs(), ctx))["path"]) as image:
                assert image.size == (640, 480)
                assert image.getpixel((10, 10)) == (255, 255, 255) and image.getpixel((400, 300)) == (0, 0, 0)
            await gui.call("focus_window", FocusArgs(window="bare"), ctx)
            await gui.call("type", TypeArgs(text="no wm"), ctx)
            assert window.typed() == "no wm"
        finally:
            window.close()
        assert "window manager none" in (await gui.health()).detail
    finally:
        await gui.close()


async def test_bad_requests_get_clear_errors_and_change_nothing(driver: GuiDriver, ctx: CallContext) -> None:
    with pytest.raises(InvalidSyscall, match=r"\(1280, 5\) is off the 1280x800 screen"):
        await driver.call("click", ClickArgs(x=1280, y=5), ctx)
    with pytest.raises(InvalidSyscall, match=r"\(10, 900\) is off"):
        await driver.call("drag", DragArgs(x1=0, y1=0, x2=10, y2=900), ctx)
    with pytest.raises(InvalidSyscall, match=r"'firefox' is not an allowed app; allowed: \['xterm'\]"):
        await driver.call("launch", LaunchArgs(app="firefox"), ctx)
    with pytest.raises(InvalidSyscall, match="unknown key 'hyperdrive'"):
        await driver.call("hotkey", HotkeyArgs(keys=["ctrl", "hyperdrive"]), ctx)
    with pytest.raises(InvalidSyscall, match="'editor' matches no window"):
        await driver.call("focus_window", FocusArgs(window="editor"), ctx)
    with pytest.raises(InvalidSyscall, match="not a valid title pattern"):
        await driver.call("focus_window", FocusArgs(window="(unclosed"), ctx)
    assert driver.display_name is not None
    twins = [Recorder(driver.display_name, "twin") for _ in range(2)]
    try:
        await listed(driver, ctx, *twins)
        with pytest.raises(InvalidSyscall, match="'twin' matches 2 windows"):
            await driver.call("focus_window", FocusArgs(window="twin"), ctx)
        focused = await driver.call("focus_window", FocusArgs(window=twins[1].window.id), ctx)
        assert focused["focused"]["id"] == twins[1].window.id
    finally:
        for twin in twins:
            twin.close()
    assert list(ctx.workdir.iterdir()) == []


async def test_launch_reports_apps_that_fail_or_show_no_window(ctx: CallContext) -> None:
    apps = {
        "broken": ["sh", "-c", "echo boom >&2; exit 3"],
        "ghost": ["aios-no-such-program"],
        "quiet": ["sleep", "30"],
    }
    gui = GuiDriver(GuiConfig(apps=apps, launch_timeout_s=0.5, window_manager=None))
    try:
        with pytest.raises(ToolError, match="broken exited with code 3 before showing a window: boom"):
            await gui.call("launch", LaunchArgs(app="broken"), ctx)
        with pytest.raises(ToolError, match=r"'aios-no-such-program' .* is not installed"):
            await gui.call("launch", LaunchArgs(app="ghost"), ctx)
        quiet = await gui.call("launch", LaunchArgs(app="quiet"), ctx)
        assert quiet["window"] is None and running(quiet["pid"])
        await gui.release(ctx.pid)
        assert not running(quiet["pid"])
    finally:
        await gui.close()


async def test_sandboxed_apps_cannot_read_the_kernels_environment(
    monkeypatch: pytest.MonkeyPatch, ctx: CallContext
) -> None:
    """bubblewrap is pid 1 inside the app's sandbox: it must not carry the kernel's variables (API keys)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-aios-gui-leak")
    dump = "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done > /workspace/env.tmp"
    spy = ["sh", "-c", f"{dump}; mv /workspace/env.tmp /workspace/env.txt; sleep 30"]
    gui = GuiDriver(GuiConfig(apps={"spy": spy}, launch_timeout_s=0.5, window_manager=None))
    try:
        await gui.call("launch", LaunchArgs(app="spy"), ctx)
        await until(lambda: (ctx.workdir / "env.txt").exists(), "the app to write what it sees")
        environ = (ctx.workdir / "env.txt").read_text()
        assert "PATH=" in environ and "DISPLAY=" in environ
        assert "sk-aios-gui-leak" not in environ
    finally:
        await gui.close()


async def test_the_users_display_is_never_used(
    monkeypatch: pytest.MonkeyPatch, ctx: CallContext, tmp_path: Path
) -> None:
    monkeypatch.setenv("DISPLAY", ":4242")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-bogus")
    gui = GuiDriver(GuiConfig(sandbox_apps=False))
    try:
        launched = await gui.call("launch", LaunchArgs(app="xterm", args=["-T", "own display"]), ctx)
        assert launched["window"]["title"] == "own display"
        environ = Path(f"/proc/{launched['pid']}/environ").read_bytes().split(b"\0")
        assert f"DISPLAY={gui.display_name}".encode() in environ
        assert not any(v.startswith(b"WAYLAND_DISPLAY=") for v in environ)
        shot = await gui.call("screenshot", NoArgs(), ctx)
        assert Path(shot["path"]).exists()
        assert gui.display_name != ":4242"
        assert "Xvfb" in (await gui.health()).detail
    finally:
        await gui.close()
    assert os.environ["DISPLAY"] == ":4242"


async def test_release_and_close_stop_every_process(ctx: CallContext, tmp_path: Path) -> None:
    gui = GuiDriver()
    assert "not started" in (await gui.health()).detail
    other = CallContext(pid=2, workdir=tmp_path / "other")
    first = await gui.call("launch", LaunchArgs(app="xterm", args=["-T", "first"]), ctx)
    second = await gui.call("launch", LaunchArgs(app="xterm", args=["-T", "second"]), other)
    assert gui.display is not None and gui.display.server is not None and gui.display.wm is not None
    server, wm, socket = gui.display.server.pid, gui.display.wm.pid, gui.display.socket_path
    health = await gui.health()
    assert health.ok and gui.display.name in health.detail and "openbox" in health.detail

    await gui.release(ctx.pid)
    assert not running(first["pid"])

    async def titles() -> list[str]:
        return [w["title"] for w in (await gui.call("list_windows", NoArgs(), ctx))["windows"]]

    for _ in range(100):
        if await titles() == ["second"]:
            break
        await asyncio.sleep(0.05)
    assert await titles() == ["second"]

    await gui.close()
    for pid in (second["pid"], server, wm):
        assert not running(pid), pid
    assert not socket.exists()
    await gui.close()  # idempotent
    assert "not started" in (await gui.health()).detail


async def test_two_processes_contend_for_the_screen_one_call_at_a_time(
    kernel: Kernel, driver: GuiDriver, recorder: tuple[Recorder, dict[str, Any]]
) -> None:
    window, entry = recorder
    kernel.drivers["gui"] = driver
    await driver.call("focus_window", FocusArgs(window=entry["id"]), CallContext(pid=0, workdir=Path()))
    chunk = 150

    async def typist(pid: int, letter: str) -> str:
        for _ in range(3):
            await kernel.syscall(pid, ToolSyscall(name="gui.type", arguments={"text": letter * chunk}))
        return "typed"

    pids = [
        await kernel.spawn(lambda pid, ch=ch: typist(pid, ch), agent="t", task="t", capabilities=["gui.*"])
        for ch in "ab"
    ]
    for pid in pids:
        record = await kernel.wait(pid)
        assert record.state == ProcessState.DONE, record.error

    typed = window.typed()
    runs = [typed[i : i + chunk] for i in range(0, len(typed), chunk)]
    assert len(typed) == 6 * chunk and all(len(set(run)) == 1 for run in runs), typed
    assert sorted(run[0] for run in runs) == ["a"] * 3 + ["b"] * 3

    await asyncio.to_thread(kernel.store.flush)
    rows = sorted(
        (r for pid in pids for r in kernel.store.audit(pid=pid) if r.kind == "tool"), key=lambda r: r.ts
    )
    assert len(rows) == 6 and all(r.status == "ok" for r in rows)
    spans = [(r.ts - r.service_us / 1e6, r.ts) for r in rows]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.002, spans  # never two on the screen at once
    assert sum(r.queue_wait_us for r in rows) > 0  # someone waited for the screen

    pid = await kernel.spawn(lambda pid: asyncio.sleep(5), agent="t", task="t", capabilities=["gui.*"])
    with pytest.raises(InvalidSyscall, match="off the 1280x800 screen"):
        await kernel.syscall(pid, ToolSyscall(name="gui.click", arguments={"x": 5000, "y": 1}))
    with pytest.raises(InvalidSyscall, match=r"bad arguments for gui\.click: x"):
        await kernel.syscall(pid, ToolSyscall(name="gui.click", arguments={"x": -1, "y": 1}))
    with pytest.raises(InvalidSyscall, match=r"gui\.type: text: .*only newline and tab .*'\\x03'"):
        await kernel.syscall(pid, ToolSyscall(name="gui.type", arguments={"text": "stop\x03"}))
    assert window.typed() == ""  # refused calls typed nothing


def test_a_display_left_by_a_killed_aios_is_reaped_by_the_next(tmp_path: Path) -> None:
    """SIGKILL leaves Xvfb and openbox running; the next display start finds them by owner and kills them."""
    script = (
        "import sys, time\n"
        "from aios.tools.xserver import VirtualDisplay\n"
        "d = VirtualDisplay(width=320, height=200, depth=24, window_manager='openbox', start_timeout_s=10)\n"
        "d.start()\n"
        "print(d.server.pid, d.wm.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    left = [int(pid) for pid in owner.stdout.readline().split()]
    owner.kill()
    owner.wait()
    owner.stdout.close()
    assert all(Path(f"/proc/{pid}").exists() for pid in left), "a killed owner leaves its display running"
    assert set(left) <= set(reap_orphans())
    for _ in range(100):
        if not any(Path(f"/proc/{pid}").exists() for pid in left):
            break
        time.sleep(0.02)
    assert not any(Path(f"/proc/{pid}").exists() for pid in left)
