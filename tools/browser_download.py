"""Downloads: one at a time through a staging folder the driver watches, so the size cap holds mid-way."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from playwright.async_api import Download
from playwright.async_api import Error as PlaywrightError

from aios.kernel.errors import LimitExceeded, ToolTimeout

WATCH_S = 0.05
FALLBACK_NAME = "download"


def safe_filename(name: str) -> str:
    """A name that cannot leave the downloads folder, hide itself or confuse a shell."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:120]
    return cleaned or FALLBACK_NAME


def name_from_url(url: str) -> str:
    return safe_filename(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))


Save = Callable[[str, bytes], Path]
"""Writes a file under a name in the process's downloads folder (`name-1`... if taken; never through a
link the agent planted there) and says where (`workdir_files.save_for`)."""


class DownloadStaging:
    """The browser's download folder; one download at a time, so the file growing there is the one watched."""

    def __init__(self, folder: Path, *, max_bytes: int, timeout_s: float) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.lock = asyncio.Lock()

    def existing(self) -> set[str]:
        return {p.name for p in self.folder.iterdir()}

    async def receive(
        self, download: Download, *, before: set[str], save: Save, tool: str
    ) -> tuple[Path, int]:
        """Wait for the transfer under the size cap and timeout, then `save` it for the process."""
        finished = asyncio.ensure_future(download.path())
        deadline = time.monotonic() + self.timeout_s
        try:
            while not finished.done():
                await asyncio.wait({finished}, timeout=WATCH_S)
                grown = self._largest_new(before)
                if grown > self.max_bytes:
                    raise LimitExceeded(
                        f"{tool}: the download passed browser.max_download_bytes ({self.max_bytes} bytes) "
                        "and was cancelled"
                    )
                if time.monotonic() > deadline:
                    raise ToolTimeout(f"{tool}: the download took longer than {self.timeout_s:.0f}s")
            staged = finished.result()
            size = staged.stat().st_size
            if size > self.max_bytes:
                raise LimitExceeded(
                    f"{tool}: the download ({size} bytes) is larger than browser.max_download_bytes "
                    f"({self.max_bytes}) and was deleted"
                )
            data = await asyncio.to_thread(staged.read_bytes)
            path = await asyncio.to_thread(save, safe_filename(download.suggested_filename), data)
            return path, size
        finally:
            if not finished.done():
                await download.cancel()
                finished.cancel()
            with contextlib.suppress(Exception):
                await finished  # its outcome is already known, or was cancelled above
            with contextlib.suppress(PlaywrightError):
                await download.delete()  # a cancelled download has nothing left to delete

    def _largest_new(self, before: set[str]) -> int:
        sizes = [0]
        for path in self.folder.iterdir():
            if path.name not in before:
                with contextlib.suppress(FileNotFoundError):
                    sizes.append(path.stat().st_size)
        return max(sizes)


async def write_capped(
    read_body: Callable[[], Awaitable[bytes]],
    *,
    declared_bytes: int | None,
    max_bytes: int,
    save: Save,
    name: str,
    tool: str,
) -> tuple[Path, int]:
    """Save a response the browser showed instead of downloading (a page, an image, plain text)."""
    if declared_bytes is not None and declared_bytes > max_bytes:
        raise LimitExceeded(
            f"{tool}: the server announced {declared_bytes} bytes, more than browser.max_download_bytes "
            f"({max_bytes})"
        )
    body = await read_body()
    if len(body) > max_bytes:
        raise LimitExceeded(
            f"{tool}: {len(body)} bytes is more than browser.max_download_bytes ({max_bytes})"
        )
    path = await asyncio.to_thread(save, name, body)
    return path, len(body)
