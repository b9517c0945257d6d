"""OSWorld's setup and post-config steps, run against a task's computer. A step that fails raises
SetupFailed (an environment error); one this runner cannot do raises Unsupported before anything runs."""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from aios.evals.osworld.cache import cached
from aios.evals.osworld.chrome import BrowserUnavailable, TaskBrowser
from aios.evals.osworld.guest import HOME, Guest, GuestError
from aios.evals.osworld.task import Step
from aios.evals.osworld.task_programs import BROWSER_NAMES
from aios.evals.osworld.unsupported import SetupFailed, Unsupported
from aios.tools.xclient import XSession

logger = logging.getLogger(__name__)

WINDOW_TIMEOUT_S = 30.0
BROWSER_TIMEOUT_S = 20.0
OFFICE = (".xlsx", ".xls", ".ods", ".docx", ".doc", ".odt", ".pptx", ".ppt", ".odp")
"""Opened with LibreOffice where it is installed; otherwise the task is unsupported here."""
NOT_OFFLINE = {"googledrive", "login", "update_browse_history"}
"""Steps that need an online account or service: reported as unsupported, never faked."""


@dataclass
class StepContext:
    guest: Guest
    x: XSession
    browser: TaskBrowser
    cache_dir: Path | None


def _path(path: str) -> str:
    return path if path.startswith("/") else str(PurePosixPath(HOME) / path)


def _download(ctx: StepContext, p: dict[str, Any]) -> None:
    for item in p["files"]:
        source = cached(ctx.cache_dir, item["url"], name=item["path"])
        ctx.guest.write_file(_path(item["path"]), source.read_bytes())


def _upload(ctx: StepContext, p: dict[str, Any]) -> None:
    """Local files (relative to where the runner was started, as in OSWorld) into the task's computer."""
    for item in p["files"]:
        ctx.guest.write_file(_path(item["path"]), Path(item["local_path"]).read_bytes())


def _window_ids(ctx: StepContext) -> set[int]:
    return {window.id for window in ctx.x.windows()}


def _wait_for_window(ctx: StepContext, before: set[int], what: str) -> None:
    """Wait for a window that was not there before (a count misses it where another one closed meanwhile)."""
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    while not _window_ids(ctx) - before:
        if time.monotonic() > deadline:
            raise SetupFailed(f"{what}: no window appeared within {WINDOW_TIMEOUT_S:.0f}s")
        time.sleep(0.1)


def _launch(ctx: StepContext, p: dict[str, Any]) -> None:
    command = p["command"]
    if isinstance(command, str):
        argv, program = ["/bin/sh", "-c", command], (shlex.split(command) or [""])[0]
    else:
        argv, program = (["/bin/sh", "-c", *command] if p.get("shell") else list(command)), command[0]
    ctx.guest.launch(argv)
    if PurePosixPath(program).name in BROWSER_NAMES:
        _wait_for_browser(ctx)


def _open(ctx: StepContext, p: dict[str, Any]) -> None:
    """Open a file with its app: pages in the browser; text in the editor on a terminal."""
    path = _path(p["path"])
    before = _window_ids(ctx)
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".html", ".htm", ".pdf", ".svg", ".png", ".jpg", ".jpeg"):
        ctx.guest.launch(["google-chrome", f"file://{path}"])
    elif suffix in (".txt", ".md", ".py", ".sh", ".csv", ".json", ".log", ".conf", ".ini", ""):
        ctx.guest.launch(["xterm", "-title", PurePosixPath(path).name, "-e", "vi", path])
    elif suffix in OFFICE and shutil.which("soffice"):
        ctx.guest.launch(["soffice", path])
    else:
        raise Unsupported(f"setup:open:{suffix}", "no app here opens this kind of file")
    _wait_for_window(ctx, before, f"open {path}")


def _execute(ctx: StepContext, p: dict[str, Any]) -> None:
    result = ctx.guest.run(p["command"], shell=bool(p.get("shell")), timeout_s=p.get("timeout"))
    if result.timed_out:
        raise SetupFailed(f"execute {p['command']!r} timed out")
    if result.returncode != 0:
        logger.info("setup command %r exited %d: %s", p["command"], result.returncode, result.stderr[-300:])


WINDOW_ALIASES = {
    "google chrome": ("chromium",),
    "chrome": ("chromium",),
    "mail.thunderbird": ("mail.thunderbird-default",),
}
"""Names OSWorld's VM gives windows (titles, or classes as `instance.class`), and what the same app's
window is called here: Debian's Chromium titles its windows "... - Chromium", Debian's Thunderbird has the
class `Mail.thunderbird-default`."""


def _label_matches(label: str, name: str, strict: bool) -> bool:
    folded, names = label.lower(), (name.lower(), *WINDOW_ALIASES.get(name.lower(), ()))
    if strict:
        return label == name or folded in names[1:]
    return any(n in folded for n in names)


def _matching_windows(ctx: StepContext, p: dict[str, Any]) -> list[int]:
    """Windows whose title (or class, as wmctrl -x writes it: `instance.class`) is the name."""
    name, strict = p["window_name"], bool(p.get("strict"))
    found = []
    for window in ctx.x.windows():
        label = ctx.x.window_class(window.id).replace(" ", ".") if p.get("by_class") else window.title
        if _label_matches(label, name, strict):
            found.append(window.id)
    return found


def _activate_window(ctx: StepContext, p: dict[str, Any]) -> None:
    """Focus the window, waiting a while for it to appear first (it usually belongs to an app just
    launched). None found is logged and the task goes on, as in OSWorld."""
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    while not (found := _matching_windows(ctx, p)):
        if time.monotonic() > deadline:
            logger.warning("activate_window: no window named %r; the task goes on", p["window_name"])
            return
        time.sleep(0.1)
    ctx.x.focus(found[0])


def _close_window(ctx: StepContext, p: dict[str, Any]) -> None:
    found = _matching_windows(ctx, p)
    if not found:
        logger.warning("close_window: no window named %r; the task goes on", p["window_name"])
    for window_id in found:
        ctx.x.close_window(window_id)


def _wait_for_browser(ctx: StepContext) -> None:
    deadline = time.monotonic() + BROWSER_TIMEOUT_S
    while not ctx.browser.available():
        if time.monotonic() > deadline:
            raise SetupFailed(f"the browser's debugging port did not open within {BROWSER_TIMEOUT_S:.0f}s")
        time.sleep(0.1)


def _chrome_open_tabs(ctx: StepContext, p: dict[str, Any]) -> None:
    """Open the pages in the browser (started if needed), and wait until it shows the last of them."""
    if not ctx.browser.available():
        before = _window_ids(ctx)
        ctx.guest.launch(["google-chrome"])
        _wait_for_browser(ctx)
        _wait_for_window(ctx, before, "the browser")
    for url in p["urls_to_open"]:
        ctx.browser.open_tab(url)
    deadline = time.monotonic() + BROWSER_TIMEOUT_S
    while not _showing(ctx.browser, p["urls_to_open"][-1]):
        if time.monotonic() > deadline:
            raise SetupFailed(f"the browser did not show {p['urls_to_open'][-1]}")
        time.sleep(0.1)


def _showing(browser: TaskBrowser, url: str) -> bool:
    """The active tab is `url`, loaded."""
    tabs = browser.tabs()
    return bool(tabs) and tabs[0]["url"] == url and browser.loaded(tabs[0]["id"])


def _chrome_close_tabs(ctx: StepContext, p: dict[str, Any]) -> None:
    for tab in ctx.browser.tabs():
        if any(url in tab["url"] for url in p["urls_to_close"]):
            ctx.browser.close_tab(tab["id"])


def _sleep(ctx: StepContext, p: dict[str, Any]) -> None:
    time.sleep(float(p["seconds"]))


STEPS = {
    "download": _download,
    "upload_file": _upload,
    "launch": _launch,
    "open": _open,
    "execute": _execute,
    "command": _execute,
    "activate_window": _activate_window,
    "close_window": _close_window,
    "chrome_open_tabs": _chrome_open_tabs,
    "chrome_close_tabs": _chrome_close_tabs,
    "sleep": _sleep,
}


def run_steps(steps: list[Step], ctx: StepContext) -> None:
    """Run in order. NeedsNetwork and Unsupported pass through; anything else is a SetupFailed."""
    for i, step in enumerate(steps):
        try:
            STEPS[step.type](ctx, step.parameters)
        except (SetupFailed, Unsupported):
            raise
        except (GuestError, BrowserUnavailable, OSError, KeyError, TypeError, ValueError) as exc:
            raise SetupFailed(f"step {i + 1} ({step.type}): {exc}") from exc
