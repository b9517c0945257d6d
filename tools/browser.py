"""The `browser` driver: headless Chromium through Playwright, one private context per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.errors import ToolError, ToolTimeout
from aios.tools.browser_args import (
    BackArgs,
    ClickArgs,
    DownloadArgs,
    OpenArgs,
    ReadTextArgs,
    ScreenshotArgs,
    ScrollArgs,
    SelectArgs,
    SnapshotArgs,
    TypeArgs,
)
from aios.tools.browser_config import LAUNCH_ARGS, BrowserConfig
from aios.tools.browser_network import HostPolicy
from aios.tools.sandbox_user import for_process

if TYPE_CHECKING:  # Playwright is imported on first use: every `aios` command would pay for it
    from playwright.async_api import Browser, Playwright

    from aios.tools.browser_download import DownloadStaging
    from aios.tools.browser_session import BrowserSession

logger = logging.getLogger(__name__)

Handler = Callable[["BrowserSession", Any, CallContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class _Spec:
    args_model: type[BaseModel]
    risk: RiskLevel
    description: str
    handler: Handler


def _specs(staging: Callable[[], DownloadStaging]) -> dict[str, _Spec]:
    return {
        "open": _Spec(
            args_model=OpenArgs,
            risk=RiskLevel.READ,
            description="Open a web page (http or https); get its url, title, HTTP status and a preview.",
            handler=lambda s, a, c: s.open(a),
        ),
        "click": _Spec(
            args_model=ClickArgs,
            risk=RiskLevel.WRITE,
            description="Click an element (a link, a button); follows a tab the click opens.",
            handler=lambda s, a, c: s.click(a),
        ),
        "type": _Spec(
            args_model=TypeArgs,
            risk=RiskLevel.WRITE,
            description="Type text into an input field, replacing what it held; submit=true presses Enter.",
            handler=lambda s, a, c: s.type(a),
        ),
        "select": _Spec(
            args_model=SelectArgs,
            risk=RiskLevel.WRITE,
            description="Choose an option of a drop-down list, by its value or label.",
            handler=lambda s, a, c: s.select(a),
        ),
        "scroll": _Spec(
            args_model=ScrollArgs,
            risk=RiskLevel.READ,
            description="Scroll the page by dx/dy pixels, or until an element is in view.",
            handler=lambda s, a, c: s.scroll(a),
        ),
        "back": _Spec(
            args_model=BackArgs,
            risk=RiskLevel.READ,
            description="Go back to the previous page.",
            handler=lambda s, a, c: s.back(),
        ),
        "read_text": _Spec(
            args_model=ReadTextArgs,
            risk=RiskLevel.READ,
            description="Read the visible text of the page (or of one element).",
            handler=lambda s, a, c: s.read_text(a),
        ),
        "snapshot": _Spec(
            args_model=SnapshotArgs,
            risk=RiskLevel.READ,
            description=(
                "The page's accessibility tree (roles, names, values) with refs like e12 that click, type "
                "and select accept as targets."
            ),
            handler=lambda s, a, c: s.snapshot(a),
        ),
        "screenshot": _Spec(
            args_model=ScreenshotArgs,
            risk=RiskLevel.READ,
            description="Save a screenshot of the page in the work folder (scaled and encoded per "
            "[browser.screenshot]); returns its path, width and height, and the page's own screen_width and "
            "screen_height.",
            handler=lambda s, a, c: s.screenshot(a, c.workdir, for_process(c.pid)),
        ),
        "download": _Spec(
            args_model=DownloadArgs,
            risk=RiskLevel.WRITE,
            description="Download a file (click a link, or fetch a url) into the work folder; get its path.",
            handler=lambda s, a, c: s.download(a, c.workdir, staging(), for_process(c.pid)),
        ),
    }


@contextlib.contextmanager
def _playwright_errors(tool: str) -> Iterator[None]:
    """Playwright's failures as ToolError/ToolTimeout, with its first line only (the call log is noise)."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeoutError

    try:
        yield
    except PlaywrightTimeoutError as e:
        raise ToolTimeout(f"{tool}: {_first_line(e)}") from e
    except PlaywrightError as e:
        message = _first_line(e)
        if "ERR_NAME_NOT_RESOLVED" in message:
            message += " (hosts outside browser.allow_hosts do not resolve)"
        raise ToolError(f"{tool}: {message}") from e


def _runnable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class BrowserDriver(Driver):
    """Drives a headless Chromium; each process gets its own cookies and storage, and only allowed hosts."""

    name = "browser"
    exclusive = False
    max_concurrency = 4

    def __init__(self, config: BrowserConfig | None = None) -> None:
        self.config = config or BrowserConfig()
        self.policy = HostPolicy(self.config.allow_hosts)
        self._specs = _specs(self._staging_area)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._staging: DownloadStaging | None = None
        self._sessions: dict[int, BrowserSession] = {}  # pid -> its context and page
        self._lock = asyncio.Lock()

    def operations(self) -> dict[str, Operation]:
        timeouts = {"download": self.config.timeout_s + self.config.download_timeout_s}
        return {
            name: Operation(
                name=name,
                description=spec.description,
                args_model=spec.args_model,
                risk=spec.risk,
                timeout_s=timeouts.get(name, self.config.timeout_s),
                capability=f"browser.{name}",
            )
            for name, spec in self._specs.items()
        }

    @property
    def sessions(self) -> dict[int, BrowserSession]:
        """Live sessions by pid (read-only view for health and tests)."""
        return dict(self._sessions)

    async def open(self) -> None:
        async with self._lock:
            await self._launch()

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> dict[str, Any]:
        spec = self._specs.get(operation)
        assert spec is not None, f"unexpected operation {operation}"
        assert isinstance(args, spec.args_model), f"unexpected arguments {type(args).__name__}"
        session = await self._session(ctx.pid)
        tool = f"browser.{operation}"
        limit_s = self.operations()[operation].timeout_s
        async with session.lock:
            try:
                async with asyncio.timeout(limit_s):
                    with _playwright_errors(tool):
                        await session.ready()
                        return await spec.handler(session, args, ctx)
            except TimeoutError as e:
                raise ToolTimeout(f"{tool} ran past {limit_s:.0f}s") from e

    async def release(self, pid: int) -> None:
        async with self._lock:
            session = self._sessions.pop(pid, None)
        if session is not None:
            await session.close()

    def unconfined(self) -> frozenset[str]:
        """Chromium runs as the daemon's OS user, held back by the URL policy, not by an OS sandbox."""
        return frozenset({"*"})

    async def health(self) -> DriverHealth:
        executable = self.config.executable
        if not _runnable(executable):
            return DriverHealth(
                ok=False, detail=f"no Chromium at {executable} (Debian: apt-get install chromium)"
            )
        state = "running" if self._browser is not None and self._browser.is_connected() else "not started"
        return DriverHealth(
            ok=True,
            detail=(
                f"Chromium at {executable} ({state}, {len(self._sessions)} contexts); "
                f"allow_hosts {self.policy.entries}"
            ),
        )

    async def close(self) -> None:
        async with self._lock:
            await self._shutdown()

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def _launch(self) -> Browser:
        """The running browser, started (or restarted after a crash) on first need."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        from aios.tools.browser_download import DownloadStaging

        if self._browser is not None and self._browser.is_connected():
            return self._browser
        await self._shutdown()
        args = list(LAUNCH_ARGS)
        rules = self.policy.resolver_rules()
        if rules is not None:
            args.append(f"--host-resolver-rules={rules}")
        staging = Path(tempfile.mkdtemp(prefix="aios-browser-"))
        self._staging = DownloadStaging(
            staging, max_bytes=self.config.max_download_bytes, timeout_s=self.config.download_timeout_s
        )
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.config.executable,
                args=args,
                headless=True,
                downloads_path=staging,
                timeout=self.config.timeout_s * 1000,
            )
        except PlaywrightError as e:
            await self._shutdown()
            raise ToolError(
                f"browser: cannot start Chromium at {self.config.executable}: {_first_line(e)} "
                "(Debian: apt-get install chromium, or set browser.executable)"
            ) from e
        logger.info("browser: Chromium %s started", self._browser.version)
        return self._browser

    async def _session(self, pid: int) -> BrowserSession:
        async with self._lock:
            browser = await self._launch()  # after a crash this starts afresh and forgets every session
            session = self._sessions.get(pid)
            if session is None:
                from aios.tools.browser_session import BrowserSession

                session = BrowserSession(pid=pid, config=self.config, policy=self.policy)
                try:
                    with _playwright_errors("browser"):
                        await session.start(browser)
                except BaseException:
                    await session.close()
                    raise
                self._sessions[pid] = session
            return session

    def _staging_area(self) -> DownloadStaging:
        assert self._staging is not None, "the browser is not started"
        return self._staging

    async def _shutdown(self) -> None:
        from playwright.async_api import Error as PlaywrightError

        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
        if self._staging is not None:
            shutil.rmtree(self._staging.folder, ignore_errors=True)
            self._staging = None
