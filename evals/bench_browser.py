"""`aios bench drivers` (browser): each operation's latency on real headless Chromium, on a page served here.

The page comes from a ThreadingHTTPServer on 127.0.0.1 started for the run; the browser is launched and one
page opened before timing starts, so the numbers are per operation, not per browser start.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aios.kernel.drivers import CallContext
from aios.tools.browser import BrowserDriver
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

PAGE = b"""<!doctype html><html><head><title>Bench</title></head><body>
<h1>Browser bench</h1><p id="out">ready</p>
<button onclick="document.getElementById('out').textContent = 'clicked'">Go</button>
<input name="q" placeholder="Search">
<select id="pick"><option value="a">A</option><option value="b">B</option></select>
<a href="/next">Next</a> <a id="file" href="/file.bin">File</a>
<div style="height: 4000px"></div></body></html>"""
NEXT = b"<html><head><title>Next</title></head><body><p>next page</p></body></html>"
FILE = b"\0" * 64 * 1024


class _BenchPages(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark's output is its numbers."""

    def do_GET(self) -> None:
        body, kind, extra = PAGE, "text/html", {}
        if self.path == "/next":
            body = NEXT
        elif self.path == "/file.bin":
            body, kind = FILE, "application/octet-stream"
            extra = {"Content-Disposition": "attachment; filename=file.bin"}
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


async def bench_browser(runs: int, workdir: Path) -> dict[str, list[float]]:
    """Milliseconds per call of every browser operation, `runs` times each; leaves nothing behind."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BenchPages)
    thread = threading.Thread(target=server.serve_forever, name="bench-browser-pages")
    thread.start()
    scratch = Path(tempfile.mkdtemp(prefix="bench-browser-", dir=workdir))
    driver = BrowserDriver()
    try:
        site = f"http://127.0.0.1:{server.server_address[1]}"
        ctx = CallContext(pid=1, workdir=scratch)
        await driver.open()
        await driver.call("open", OpenArgs(url=f"{site}/"), ctx)
        return await _measure(driver, ctx, site, runs)
    finally:
        await driver.close()
        server.shutdown()
        server.server_close()
        thread.join()
        shutil.rmtree(scratch, ignore_errors=True)


async def _measure(driver: BrowserDriver, ctx: CallContext, site: str, runs: int) -> dict[str, list[float]]:
    home, following = OpenArgs(url=f"{site}/"), OpenArgs(url=f"{site}/next")

    async def call(operation: str, args: Any) -> None:
        await driver.call(operation, args, ctx)

    async def timed(operation: str, args: Any, before: Callable[[], Awaitable[None]] | None = None) -> float:
        if before is not None:
            await before()
        started = time.perf_counter()
        await call(operation, args)
        return (time.perf_counter() - started) * 1000

    async def back_setup() -> None:
        await call("open", home)
        await call("open", following)

    async def at_home() -> None:
        await call("open", home)

    plan: list[tuple[str, Any, Callable[[], Awaitable[None]] | None]] = [
        ("open", home, None),
        ("click", ClickArgs(target="Go"), None),
        ("type", TypeArgs(target="Search", text="benchmark words"), None),
        ("select", SelectArgs(target="#pick", value="b"), None),
        ("scroll", ScrollArgs(dy=300), None),
        ("read_text", ReadTextArgs(), None),
        ("snapshot", SnapshotArgs(), None),
        ("screenshot", ScreenshotArgs(), None),
        ("download", DownloadArgs(target="#file"), None),
        ("back", BackArgs(), back_setup),
    ]
    results: dict[str, list[float]] = {}
    for operation, args, before in plan:
        await at_home()
        results[operation] = [await timed(operation, args, before) for _ in range(runs)]
    return results
