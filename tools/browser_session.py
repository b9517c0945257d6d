"""One process's browsing: its own context (cookies, storage, cache), its current page, what was blocked."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Download, Locator, Page, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from aios.kernel.errors import HostBlocked, ToolError
from aios.tools.browser_args import (
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
from aios.tools.browser_config import BrowserConfig
from aios.tools.browser_download import DownloadStaging, Save, name_from_url, write_capped
from aios.tools.browser_network import BLANK, HostPolicy
from aios.tools.browser_targets import locate
from aios.tools.sandbox_user import SandboxUser
from aios.tools.screen_images import encode_png
from aios.tools.workdir_files import save_for

logger = logging.getLogger(__name__)

MAX_BLOCKED_SHOWN = 10
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")
_OPENS_TAB = """e => {
  const link = e.closest("a[href], area[href]");
  return !!link && !!link.target && !["_self", "_top", "_parent"].includes(link.target.toLowerCase());
}"""
"""Whether clicking the element opens a new tab (a link with a target), so the click waits for it."""


def cap(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def tidy(text: str) -> str:
    """Visible text without trailing spaces or runs of blank lines (they cost tokens and say nothing)."""
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", lines).strip()


class BrowserSession:
    """A browser context that belongs to one process; operations on it run one at a time."""

    def __init__(self, *, pid: int, config: BrowserConfig, policy: HostPolicy) -> None:
        self.pid = pid
        self.config = config
        self.policy = policy
        self.lock = asyncio.Lock()
        self.blocked: list[str] = []
        """URLs the allow-list refused since the last operation reported them (the first few)."""
        self.download_waiter: asyncio.Future[Download] | None = None
        self._popups: list[Page] = []  # tabs that pages opened during the current operation
        self._context: BrowserContext | None = None
        self._page: Page | None = None

    @property
    def context(self) -> BrowserContext:
        assert self._context is not None, f"browser session of pid {self.pid} is not started"
        return self._context

    @property
    def page(self) -> Page:
        assert self._page is not None, f"browser session of pid {self.pid} is not started"
        return self._page

    async def start(self, browser: Browser) -> None:
        """Create the context with every request and WebSocket routed through the allow-list."""
        config = self.config
        context = await browser.new_context(
            viewport={"width": config.viewport_width, "height": config.viewport_height},
            accept_downloads=True,
            service_workers="block",
        )
        self._context = context
        context.set_default_navigation_timeout(config.navigation_timeout_s * 1000)
        context.set_default_timeout(config.action_timeout_s * 1000)
        await context.route("**/*", self._guard_request)
        await context.route_web_socket(lambda _url: True, self._guard_websocket)
        context.on("page", self._watch_page)
        self._page = await context.new_page()

    async def ready(self) -> None:
        """A live page to act on: the current one, else the newest open tab, else a fresh one."""
        if self._page is None or self._page.is_closed():
            live = [p for p in self.context.pages if not p.is_closed()]
            self._page = live[-1] if live else await self.context.new_page()

    async def close(self) -> None:
        if self._context is not None:
            with contextlib.suppress(PlaywrightError):
                await self._context.close()
        self._context = self._page = None

    # ---- network guard ---------------------------------------------------------------------------

    def _note_blocked(self, url: str) -> None:
        if url not in self.blocked and len(self.blocked) < MAX_BLOCKED_SHOWN:
            self.blocked.append(url)
        logger.info("browser pid %d: blocked %s", self.pid, url)

    async def _guard_request(self, route: Route) -> None:
        url = route.request.url
        # a page closing under a paused request makes either answer fail; the request is gone anyway
        with contextlib.suppress(PlaywrightError):
            if self.policy.blocked_host(url) is None:
                await route.continue_()
            else:
                self._note_blocked(url)
                await route.abort("blockedbyclient")

    async def _guard_websocket(self, ws: WebSocketRoute) -> None:
        if self.policy.blocked_host(ws.url) is None:
            ws.connect_to_server()
        else:
            self._note_blocked(ws.url)
            with contextlib.suppress(PlaywrightError):
                await ws.close(code=1008, reason="blocked by browser.allow_hosts")

    def _watch_page(self, page: Page) -> None:
        page.on("download", self._on_download)
        page.on("popup", self._on_popup)

    def _on_popup(self, page: Page) -> None:
        self._popups.append(page)

    async def _on_download(self, download: Download) -> None:
        """Hand a download to the operation waiting for it; cancel any the page starts on its own."""
        waiter = self.download_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(download)
            return
        logger.info("browser pid %d: cancelled an unrequested download of %s", self.pid, download.url)
        await download.cancel()
        await download.delete()

    def require_allowed(self, url: str, tool: str) -> None:
        if url == BLANK:
            return
        host = self.policy.blocked_host(url)
        if host is not None:
            raise HostBlocked(
                f"{tool}: host {host} is not allowed; browser.allow_hosts is {self.policy.entries}. "
                f"Add {host.rsplit(':', 1)[0]!r} to browser.allow_hosts in the config to allow it"
            )

    # ---- what every output carries -----------------------------------------------------------------

    async def where(self) -> dict[str, Any]:
        """The current url and title, and what was blocked since the last report."""
        await self.ready()  # the action may have closed the tab it ran in
        page = self.page
        try:
            title = await page.title()
        except PlaywrightError:
            # the page navigated while asked; ask again once it has a document
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("domcontentloaded")
            title = await page.title()
        blocked, self.blocked = self.blocked, []
        self._popups.clear()
        return {"url": page.url, "title": title, "blocked": blocked}

    async def _settle(self) -> None:
        """Let a navigation an action started reach its document, without failing the action over it."""
        with contextlib.suppress(PlaywrightTimeoutError, PlaywrightError):
            await self.page.wait_for_load_state("domcontentloaded")

    # ---- operations ---------------------------------------------------------------------------------

    async def open(self, args: OpenArgs) -> dict[str, Any]:
        self.require_allowed(args.url, "browser.open")
        try:
            response = await self.page.goto(args.url, wait_until="domcontentloaded")
        except PlaywrightError as e:
            if "ERR_BLOCKED_BY_CLIENT" not in str(e):
                raise
            raise HostBlocked(
                f"browser.open: {args.url} leads to {', '.join(self.blocked) or 'a request'} that "
                f"browser.allow_hosts ({self.policy.entries}) does not allow"
            ) from e
        with contextlib.suppress(PlaywrightTimeoutError):
            # images and scripts get a moment more; a slow one must not fail the whole page
            await self.page.wait_for_load_state("load", timeout=self.config.action_timeout_s * 1000)
        text, _ = cap(tidy(await self._visible_text(None)), self.config.preview_chars)
        return {
            **await self.where(),
            "status": None if response is None else response.status,
            "preview": text,
        }

    async def click(self, args: ClickArgs) -> dict[str, Any]:
        element = await self._find(args.target, "browser.click", visible=True)
        self._popups.clear()
        if await element.evaluate(_OPENS_TAB):
            async with self.page.expect_popup(timeout=self.config.navigation_timeout_s * 1000) as popup:
                await element.click()
            await popup.value
        else:
            await self._click_may_close(element)
        await self._settle()
        opened = [p for p in self._popups if not p.is_closed()]
        if opened:
            self._page = opened[-1]  # the click opened a tab: follow it, as a person would
            await self._settle()
        return {**await self.where(), "new_tab": bool(opened)}

    async def _click_may_close(self, element: Locator) -> None:
        """A click whose handler closes its own tab succeeded, even if Playwright saw the tab go mid-click."""
        page = self.page
        try:
            await element.click()
        except PlaywrightError as e:
            if not (page.is_closed() or "has been closed" in str(e)):
                raise
            logger.info("browser pid %d: the click closed its tab", self.pid)

    async def type(self, args: TypeArgs) -> dict[str, Any]:
        element = await self._find(args.target, "browser.type", visible=True)
        await element.fill(args.text)
        if args.submit:
            await element.press("Enter")
            await self._settle()
        return {**await self.where(), "typed_chars": len(args.text), "submitted": args.submit}

    async def select(self, args: SelectArgs) -> dict[str, Any]:
        element = await self._find(args.target, "browser.select", visible=True)
        try:
            selected = await element.select_option(args.value)
        except PlaywrightTimeoutError as e:
            raise ToolError(
                f"browser.select: {args.target!r} has no option with value or label {args.value!r}"
            ) from e
        await self._settle()
        return {**await self.where(), "selected": selected}

    async def scroll(self, args: ScrollArgs) -> dict[str, Any]:
        if args.target is not None:
            element = await self._find(args.target, "browser.scroll", visible=False)
            await element.scroll_into_view_if_needed()
        else:
            await self.page.evaluate("([dx, dy]) => window.scrollBy(dx, dy)", [args.dx, args.dy])
        position = await self.page.evaluate(
            "() => [window.scrollX, window.scrollY, document.documentElement.scrollHeight]"
        )
        x, y, height = (int(v) for v in position)
        return {**await self.where(), "scroll_x": x, "scroll_y": y, "page_height": height}

    async def back(self) -> dict[str, Any]:
        response = await self.page.go_back(wait_until="domcontentloaded")
        return {**await self.where(), "moved": response is not None}

    async def read_text(self, args: ReadTextArgs) -> dict[str, Any]:
        full = tidy(await self._visible_text(args.target))
        text, truncated = cap(full, self.config.max_text_chars)
        return {**await self.where(), "text": text, "truncated": truncated, "total_chars": len(full)}

    async def snapshot(self, args: SnapshotArgs) -> dict[str, Any]:
        full = await self.page.aria_snapshot(mode=args.mode)
        snapshot, truncated = cap(full, self.config.max_text_chars)
        return {**await self.where(), "snapshot": snapshot, "truncated": truncated}

    async def screenshot(self, args: ScreenshotArgs, workdir: Path, user: SandboxUser) -> dict[str, Any]:
        png = await self.page.screenshot(
            full_page=args.full_page, timeout=self.config.navigation_timeout_s * 1000
        )

        def encode_and_save() -> dict[str, Any]:
            shot = encode_png(
                png, self.config.screenshot, use_full_size=args.full_size, fit_height=not args.full_page
            )
            name = f"page-{time.time_ns()}{shot.suffix}"
            return shot.output(save_for(workdir, "screenshots", name, shot.data, user))

        return {**await self.where(), **await asyncio.to_thread(encode_and_save)}

    async def download(
        self, args: DownloadArgs, workdir: Path, staging: DownloadStaging, user: SandboxUser
    ) -> dict[str, Any]:
        save = functools.partial(save_for, workdir, "downloads", user=user)
        async with staging.lock:
            before = staging.existing()
            if args.url is not None:
                self.require_allowed(args.url, "browser.download")
                path, size, source = await self._download_url(args.url, save, staging, before)
            else:
                assert args.target is not None
                path, size, source = await self._download_click(args.target, save, staging, before)
        return {**await self.where(), "path": str(path), "bytes": size, "source": source}

    # ---- helpers ------------------------------------------------------------------------------------

    async def _find(self, target: str, tool: str, *, visible: bool) -> Locator:
        return await locate(
            self.page, target, timeout_s=self.config.action_timeout_s, visible=visible, tool=tool
        )

    async def _visible_text(self, target: str | None) -> str:
        if target is None:
            if self.page.url == BLANK:
                return ""
            return await self.page.locator("body").inner_text()
        element = await self._find(target, "browser.read_text", visible=False)
        return await element.inner_text()

    def _expect_download(self) -> asyncio.Future[Download]:
        waiter: asyncio.Future[Download] = asyncio.get_running_loop().create_future()
        self.download_waiter = waiter
        return waiter

    async def _await_download(self, waiter: asyncio.Future[Download], what: str) -> Download:
        try:
            return await asyncio.wait_for(waiter, self.config.navigation_timeout_s)
        except TimeoutError as e:
            raise ToolError(
                f"browser.download: {what} started no download within {self.config.navigation_timeout_s:.0f}s"
            ) from e

    async def _download_click(
        self, target: str, save: Save, staging: DownloadStaging, before: set[str]
    ) -> tuple[Path, int, str]:
        element = await self._find(target, "browser.download", visible=True)
        waiter = self._expect_download()
        try:
            await element.click()
            download = await self._await_download(waiter, f"clicking {target!r}")
        finally:
            self.download_waiter = None
        path, size = await staging.receive(download, before=before, save=save, tool="browser.download")
        return path, size, download.url

    async def _download_url(
        self, url: str, save: Save, staging: DownloadStaging, before: set[str]
    ) -> tuple[Path, int, str]:
        """Fetch in a scratch tab of this context (its cookies, its allow-list); the current page stays."""
        scratch = await self.context.new_page()
        waiter = self._expect_download()
        try:
            try:
                response = await scratch.goto(url, wait_until="commit")
            except PlaywrightError as e:
                if "Download is starting" not in str(e):
                    raise
                response = None
            if response is None:
                download = await self._await_download(waiter, f"opening {url}")
                self.download_waiter = None
                path, size = await staging.receive(
                    download, before=before, save=save, tool="browser.download"
                )
                return path, size, download.url
            if response.status >= 400:
                raise ToolError(f"browser.download: {url} answered HTTP {response.status}")
            length = response.headers.get("content-length")
            path, size = await write_capped(
                response.body,
                declared_bytes=int(length) if length and length.isdigit() else None,
                max_bytes=staging.max_bytes,
                save=save,
                name=name_from_url(response.url),
                tool="browser.download",
            )
            return path, size, response.url
        finally:
            self.download_waiter = None
            await scratch.close()
