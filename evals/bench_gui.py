"""`aios bench drivers` (gui): each operation's latency on a private Xvfb, acting on a real sandboxed xterm.

The display, window manager and one xterm are started before timing, so the numbers are per operation, not
per display start; every launched xterm is stopped and the display shut down at the end.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aios.kernel.drivers import CallContext
from aios.tools.gui import (
    ClickArgs,
    DragArgs,
    FocusArgs,
    GuiDriver,
    HotkeyArgs,
    LaunchArgs,
    NoArgs,
    PointArgs,
    ScrollArgs,
    TypeArgs,
)


async def bench_gui(runs: int, workdir: Path) -> dict[str, list[float]]:
    """Milliseconds per call of every gui operation, `runs` times each; leaves no process behind."""
    driver = GuiDriver()
    ctx = CallContext(pid=1, workdir=workdir / "work")
    try:
        launched = await driver.call("launch", LaunchArgs(app="xterm"), ctx)
        window = launched["window"]
        assert window is not None, "xterm showed no window"
        return await _measure(driver, ctx, window, runs)
    finally:
        await driver.close()


async def _measure(
    driver: GuiDriver, ctx: CallContext, window: dict[str, Any], runs: int
) -> dict[str, list[float]]:
    x, y = window["x"] + window["width"] // 2, window["y"] + window["height"] // 2
    # the harmless input goes to a shell in the sandbox: a comment line, then ctrl+u clears the line
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "screenshot": lambda: driver.call("screenshot", NoArgs(), ctx),
        "list_windows": lambda: driver.call("list_windows", NoArgs(), ctx),
        "focus_window": lambda: driver.call("focus_window", FocusArgs(window=window["id"]), ctx),
        "click": lambda: driver.call("click", ClickArgs(x=x, y=y), ctx),
        "double_click": lambda: driver.call("double_click", PointArgs(x=x, y=y), ctx),
        "right_click": lambda: driver.call("right_click", PointArgs(x=x, y=y), ctx),
        "drag": lambda: driver.call("drag", DragArgs(x1=x - 50, y1=y, x2=x + 50, y2=y + 20), ctx),
        "scroll": lambda: driver.call("scroll", ScrollArgs(x=x, y=y, clicks=3), ctx),
        "type": lambda: driver.call("type", TypeArgs(text="# typed by the aios gui bench\n"), ctx),
        "hotkey": lambda: driver.call("hotkey", HotkeyArgs(keys=["ctrl", "u"]), ctx),
    }
    samples: dict[str, list[float]] = {name: [] for name in [*calls, "launch"]}
    for _ in range(runs):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            samples[name].append((time.perf_counter() - started) * 1000)
    for run in range(runs):
        # each launch under its own pid, so releasing it stops just that xterm
        other = CallContext(pid=1000 + run, workdir=ctx.workdir)
        started = time.perf_counter()
        await driver.call("launch", LaunchArgs(app="xterm"), other)
        samples["launch"].append((time.perf_counter() - started) * 1000)
        await driver.release(other.pid)
    return samples
