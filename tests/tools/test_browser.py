"""The browser driver on real headless Chromium, against pages served on 127.0.0.1 by the test itself."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import BaseModel, ValidationError

from aios.kernel.drivers import CallContext
from aios.kernel.errors import HostBlocked, InvalidSyscall, LimitExceeded, PermissionDenied, ToolError
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ToolResult, ToolSyscall
from aios.tools.browser import BrowserConfig, BrowserDriver
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
from aios.tools.browser_download import safe_filename
from aios.tools.browser_network import HostPolicy

HOME = """<!doctype html><html><head><title>Home</title></head><body>
<h1>Welcome home</h1>
<a href="/second">Second page</a>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked'">Go</button>
<p id="out">waiting</p>
<form action="/search"><input name="q" placeholder="Search words"></form>
<label>Colour <select id="colour" onchange="document.getElementById('out').textContent = this.value">
  <option value="r">Red</option><option value="g">Green</option></select></label>
<a id="dl" href="/file.txt">Get the report</a>
<a href="/popup" target="_blank">Help in a new tab</a>
<div style="height: 3000px"></div>
<p id="bottom">The end</p>
</body></html>"""
SECOND = "<html><head><title>Second</title></head><body><p>Second page text</p></body></html>"
POPUP = (
    "<title>Help</title><button onclick='window.close()'>Close this tab</button>"
    "<button onmousedown='window.close()'>Close on press</button>"
)
LEAK = """<html><head><title>leak</title></head><body><script>
const evil = "127.0.0.2:{port}";
const done = [];
function mark(what) {{
  done.push(what);
  if (done.length === 3) document.title = "tried " + done.sort().join(",");
}}
fetch("http://" + evil + "/fetch").then(() => mark("fetch-ok"), () => mark("fetch"));
const img = new Image(); img.onerror = () => mark("img"); img.onload = () => mark("img-ok");
img.src = "http://" + evil + "/img.png";
const ws = new WebSocket("ws://" + evil + "/ws");
ws.onclose = () => mark("ws"); ws.onopen = () => mark("ws-ok");
</script></body></html>"""
FILE_BODY = b"quarterly numbers\n" * 100


class SiteHandler(BaseHTTPRequestHandler):
    """The test site: a home page with every kind of control, cookies, downloads and a leaky page."""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on what was served, not on the log."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/":
            self._send(HOME.encode())
        elif parts.path == "/second":
            self._send(SECOND.encode())
        elif parts.path == "/popup":
            self._send(POPUP.encode())
        elif parts.path == "/search":
            words = query.get("q", [""])[0]
            self._send(f"<html><head><title>Results</title></head><body>You searched for {words}".encode())
        elif parts.path == "/set-cookie":
            self._send(b"<title>set</title>", headers={"Set-Cookie": "session=first-process; Path=/"})
        elif parts.path == "/show-cookie":
            cookie = self.headers.get("Cookie") or "no cookie"
            self._send(f"<title>show</title><p>{cookie}</p>".encode())
        elif parts.path == "/leak":
            self._send(LEAK.format(port=query["port"][0]).encode())
        elif parts.path == "/file.txt":
            disposition = 'attachment; filename="../../re port.txt"'
            self._send(FILE_BODY, kind="text/plain", headers={"Content-Disposition": disposition})
        elif parts.path == "/plain.txt":
            self._send(b"just text", kind="text/plain")
        elif parts.path == "/big.bin":
            self._stream_big()
        else:
            self.send_error(404)

    def _send(self, body: bytes, *, kind: str = "text/html", headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream_big(self) -> None:
        """Two megabytes without a length, so only watching the transfer can stop it early."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", "attachment; filename=big.bin")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(40):
                self.wfile.write(b"x" * 50_000)
                self.wfile.flush()
                time.sleep(0.01)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
    thread = threading.Thread(target=server.serve_forever, name="test-site")
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class Listener:
    """A TCP port on 127.0.0.2 (outside the allow-list) that records every connection it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.2", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="test-listener")
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            self.connections.append(peer)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    outside = Listener()
    yield outside
    outside.close()


@pytest.fixture
async def driver() -> AsyncIterator[BrowserDriver]:
    browser = BrowserDriver()
    yield browser
    await browser.close()


def context_for(tmp_path: Path, pid: int = 1) -> CallContext:
    work = tmp_path / f"work-{pid}"
    work.mkdir(exist_ok=True)
    return CallContext(pid=pid, workdir=work)


@pytest.fixture
def ctx(tmp_path: Path) -> CallContext:
    return context_for(tmp_path)


async def op(driver: BrowserDriver, ctx: CallContext, name: str, args: BaseModel) -> dict[str, Any]:
    return await driver.call(name, args, ctx)


def test_allow_list_entries_and_urls() -> None:
    policy = HostPolicy(["127.0.0.1", "*.example.com", "localhost:8080", "[::1]"])
    assert policy.blocked_host("http://127.0.0.1:9/x") is None
    assert policy.blocked_host("https://docs.example.com/") is None
    assert policy.blocked_host("ws://localhost:8080/socket") is None
    assert policy.blocked_host("http://[::1]:5000/") is None
    assert policy.blocked_host("http://localhost:8081/") == "localhost:8081"
    assert policy.blocked_host("http://example.com/") == "example.com:80"
    assert policy.blocked_host("http://127.0.0.2/") == "127.0.0.2:80"
    assert policy.blocked_host("file:///etc/passwd") == "file: URL"
    assert policy.resolver_rules() == (
        "MAP * ~NOTFOUND, EXCLUDE *.example.com, EXCLUDE 127.0.0.1, EXCLUDE [::1], EXCLUDE localhost"
    )
    assert HostPolicy(["*"]).resolver_rules() is None
    with pytest.raises(ValidationError, match="not a host glob"):
        BrowserConfig(allow_hosts=["http://example.com/"])
    with pytest.raises(ValidationError, match="out of range"):
        BrowserConfig(allow_hosts=["localhost:99999"])
    for url in ("file:///etc/passwd", "chrome://settings", "view-source:http://x/", "javascript:alert(1)"):
        with pytest.raises(ValidationError, match="only http://, https:// and about:blank"):
            OpenArgs(url=url)
    with pytest.raises(ValidationError, match="exactly one of target"):
        DownloadArgs()
    assert safe_filename("../../re port.txt") == "re_port.txt"
    assert safe_filename("..") == "download"


async def test_open_click_back_and_read(driver: BrowserDriver, ctx: CallContext, site: str) -> None:
    opened = await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
    assert opened["status"] == 200 and opened["title"] == "Home" and opened["url"] == f"{site}/"
    assert "Welcome home" in opened["preview"] and opened["blocked"] == []
    clicked = await op(driver, ctx, "click", ClickArgs(target="Second page"))
    assert clicked["title"] == "Second" and clicked["url"] == f"{site}/second"
    text = await op(driver, ctx, "read_text", ReadTextArgs())
    assert text["text"] == "Second page text" and text["truncated"] is False
    back = await op(driver, ctx, "back", BackArgs())
    assert back["moved"] is True and back["title"] == "Home"
    part = await op(driver, ctx, "read_text", ReadTextArgs(target="#out"))
    assert part["text"] == "waiting"
    tab = await op(driver, ctx, "click", ClickArgs(target="Help in a new tab"))
    assert tab["new_tab"] is True and tab["title"] == "Help"
    await op(driver, ctx, "click", ClickArgs(target="Close this tab"))
    for _ in range(50):  # the tab closes a moment after the click returns
        after = await op(driver, ctx, "read_text", ReadTextArgs())
        if after["title"] == "Home":
            break
        await asyncio.sleep(0.05)
    assert after["title"] == "Home"  # the tab closed itself: back on the one that opened it


async def test_click_that_closes_its_tab_mid_click_succeeds(
    driver: BrowserDriver, ctx: CallContext, site: str
) -> None:
    """The tab goes between mouse down and up, so Playwright sees it closed; the click still worked."""
    await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
    await op(driver, ctx, "click", ClickArgs(target="Help in a new tab"))
    closed = await op(driver, ctx, "click", ClickArgs(target="Close on press"))
    assert closed["title"] == "Home" and closed["new_tab"] is False


async def test_snapshot_refs_type_and_select(driver: BrowserDriver, ctx: CallContext, site: str) -> None:
    await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
    snap = await op(driver, ctx, "snapshot", SnapshotArgs())
    [button_line] = [line for line in snap["snapshot"].splitlines() if 'button "Go"' in line]
    ref = button_line.split("[ref=")[1].split("]")[0]
    await op(driver, ctx, "click", ClickArgs(target=ref))
    assert (await op(driver, ctx, "read_text", ReadTextArgs(target="#out")))["text"] == "clicked"
    chosen = await op(driver, ctx, "select", SelectArgs(target="#colour", value="Green"))
    assert chosen["selected"] == ["g"]
    assert (await op(driver, ctx, "read_text", ReadTextArgs(target="#out")))["text"] == "g"
    typed = await op(driver, ctx, "type", TypeArgs(target="Search words", text="blue whales", submit=True))
    assert typed["title"] == "Results" and "q=blue+whales" in typed["url"]
    assert "You searched for blue whales" in (await op(driver, ctx, "read_text", ReadTextArgs()))["text"]
    plain = await op(driver, ctx, "snapshot", SnapshotArgs(mode="default"))
    assert "[ref=" not in plain["snapshot"] and "You searched for blue whales" in plain["snapshot"]


async def test_scroll_by_offset_and_to_an_element(driver: BrowserDriver, ctx: CallContext, site: str) -> None:
    await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
    moved = await op(driver, ctx, "scroll", ScrollArgs(dy=400))
    assert moved["scroll_y"] == 400 and moved["page_height"] > 3000
    to_end = await op(driver, ctx, "scroll", ScrollArgs(target="#bottom"))
    assert to_end["scroll_y"] > 2000
    with pytest.raises(ValidationError, match="either target or dx/dy"):
        ScrollArgs(dy=5, target="#bottom")


async def test_a_missing_element_is_a_clear_tool_error(ctx: CallContext, site: str) -> None:
    driver = BrowserDriver(BrowserConfig(action_timeout_s=1))
    try:
        await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
        with pytest.raises(ToolError, match=r"no visible element matches '#nope'"):
            await op(driver, ctx, "click", ClickArgs(target="#nope"))
        with pytest.raises(ToolError, match="take a new one"):  # a ref names a snapshot's element
            await op(driver, ctx, "click", ClickArgs(target="e999"))
        with pytest.raises(ToolError, match="no option with value or label 'Blue'"):
            await op(driver, ctx, "select", SelectArgs(target="#colour", value="Blue"))
    finally:
        await driver.close()


async def test_screenshot_is_a_png_in_the_workdir(driver: BrowserDriver, ctx: CallContext, site: str) -> None:
    await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
    shot = await op(driver, ctx, "screenshot", ScreenshotArgs())
    path = Path(shot["path"])
    assert path.parent == ctx.workdir / "screenshots" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (shot["width"], shot["height"]) == (1280, 800) and shot["bytes"] == path.stat().st_size
    full = await op(driver, ctx, "screenshot", ScreenshotArgs(full_page=True))
    assert full["height"] > 3000 and full["title"] == "Home"


async def test_downloads_land_in_the_workdir_capped(tmp_path: Path, ctx: CallContext, site: str) -> None:
    driver = BrowserDriver(BrowserConfig(max_download_bytes=500_000))
    try:
        await op(driver, ctx, "open", OpenArgs(url=f"{site}/"))
        clicked = await op(driver, ctx, "download", DownloadArgs(target="Get the report"))
        assert clicked["path"] == str(ctx.workdir / "downloads" / "re_port.txt")
        assert Path(clicked["path"]).read_bytes() == FILE_BODY and clicked["bytes"] == len(FILE_BODY)
        assert clicked["url"] == f"{site}/"  # the page stays where it was
        again = await op(driver, ctx, "download", DownloadArgs(url=f"{site}/file.txt"))
        assert again["path"] == str(ctx.workdir / "downloads" / "re_port-1.txt")
        shown = await op(driver, ctx, "download", DownloadArgs(url=f"{site}/plain.txt"))
        assert Path(shown["path"]).read_bytes() == b"just text" and shown["title"] == "Home"
        with pytest.raises(LimitExceeded, match="max_download_bytes"):
            await op(driver, ctx, "download", DownloadArgs(url=f"{site}/big.bin"))
        assert sorted(p.name for p in (ctx.workdir / "downloads").iterdir()) == [
            "plain.txt",
            "re_port-1.txt",
            "re_port.txt",
        ]
        with pytest.raises(PermissionDenied, match=r"127\.0\.0\.2:80"):
            await op(driver, ctx, "download", DownloadArgs(url="http://127.0.0.2/x"))
    finally:
        await driver.close()


async def test_cookies_are_private_to_each_process(driver: BrowserDriver, tmp_path: Path, site: str) -> None:
    first, second = context_for(tmp_path, 1), context_for(tmp_path, 2)
    await op(driver, first, "open", OpenArgs(url=f"{site}/set-cookie"))
    own = await op(driver, first, "open", OpenArgs(url=f"{site}/show-cookie"))
    assert own["preview"] == "session=first-process"
    other = await op(driver, second, "open", OpenArgs(url=f"{site}/show-cookie"))
    assert other["preview"] == "no cookie"
    assert sorted(driver.sessions) == [1, 2]
    context = driver.sessions[1].context
    await driver.release(1)
    assert sorted(driver.sessions) == [2] and context.pages == []
    fresh = await op(driver, first, "open", OpenArgs(url=f"{site}/show-cookie"))
    assert fresh["preview"] == "no cookie"


async def test_pages_cannot_reach_hosts_outside_the_allow_list(
    driver: BrowserDriver, ctx: CallContext, site: str, listener: Listener
) -> None:
    where = await op(driver, ctx, "open", OpenArgs(url=f"{site}/leak?port={listener.port}"))
    for _ in range(100):
        if where["title"].startswith("tried"):
            break
        await asyncio.sleep(0.05)
        where = await op(driver, ctx, "read_text", ReadTextArgs())
    assert where["title"] == "tried fetch,img,ws"  # each attempt failed
    await asyncio.sleep(0.3)  # room for a straggling connection to show up
    assert listener.connections == []
    evil = f"127.0.0.2:{listener.port}"
    with pytest.raises(HostBlocked, match=rf"host {evil} is not allowed.*browser\.allow_hosts"):
        await op(driver, ctx, "open", OpenArgs(url=f"http://{evil}/"))
    with pytest.raises(PermissionDenied, match=rf"host {evil} is not allowed"):
        await op(driver, ctx, "open", OpenArgs(url=f"http://{evil}\\@127.0.0.1/"))  # Chromium reads \ as /
    assert listener.connections == []


async def test_routing_reports_what_it_blocked(tmp_path: Path, ctx: CallContext, site: str) -> None:
    """With ports in the allow-list the resolver lets 127.0.0.2 through, so only routing can refuse it."""
    port = urlsplit(site).port
    driver = BrowserDriver(BrowserConfig(allow_hosts=[f"127.0.0.1:{port}", "127.0.0.2:1", "0x7f*"]))
    outside = Listener()
    try:
        blocked = (await op(driver, ctx, "open", OpenArgs(url=f"{site}/leak?port={outside.port}")))["blocked"]
        for _ in range(100):
            if len(blocked) == 3:
                break
            await asyncio.sleep(0.05)
            blocked += (await op(driver, ctx, "read_text", ReadTextArgs()))["blocked"]
        evil = f"127.0.0.2:{outside.port}"
        assert sorted(blocked) == [f"http://{evil}/fetch", f"http://{evil}/img.png", f"ws://{evil}/ws"]
        assert outside.connections == []
        with pytest.raises(HostBlocked, match=r"127\.0\.0\.1:1 is not allowed"):
            await op(driver, ctx, "open", OpenArgs(url="http://127.0.0.1:1/"))
        # a host that reads as allowed here but that Chromium rewrites (hex IP): routing still refuses it
        with pytest.raises(HostBlocked, match=rf"leads to http://{evil}/ that browser\.allow_hosts"):
            await op(driver, ctx, "open", OpenArgs(url=f"http://0x7f000002:{outside.port}/"))
    finally:
        outside.close()
        await driver.close()


async def test_through_the_kernel_capabilities_apply(kernel: Kernel, site: str) -> None:
    driver = BrowserDriver()
    kernel.drivers["browser"] = driver
    outcome: dict[str, Any] = {}

    async def program(pid: int) -> str:
        result = await kernel.syscall(pid, ToolSyscall(name="browser.open", arguments={"url": f"{site}/"}))
        assert isinstance(result, ToolResult)
        outcome["open"] = result.output
        outcome["sessions"] = sorted(driver.sessions)
        for name, arguments in (
            ("browser.click", {"target": "Go"}),
            ("browser.open", {"url": "file:///etc/passwd"}),
            ("browser.open", {"url": "http://127.0.0.2:8/"}),
        ):
            try:
                await kernel.syscall(pid, ToolSyscall(name=name, arguments=arguments))
            except (PermissionDenied, InvalidSyscall) as e:
                outcome[f"{name} {arguments}"] = e
        return "ok"

    pid = await kernel.spawn(
        program, agent="reader", task="t", capabilities=["browser.open", "browser.read_text"]
    )
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert outcome["open"]["title"] == "Home"
    denied = outcome["browser.click {'target': 'Go'}"]
    assert isinstance(denied, PermissionDenied) and not isinstance(denied, HostBlocked)
    assert "browser.click" in str(denied)
    refused = outcome["browser.open {'url': 'file:///etc/passwd'}"]
    assert isinstance(refused, InvalidSyscall) and "file:" in str(refused)
    blocked = outcome["browser.open {'url': 'http://127.0.0.2:8/'}"]
    assert isinstance(blocked, HostBlocked) and "browser.allow_hosts" in str(blocked)
    assert outcome["sessions"] == [pid] and driver.sessions == {}  # released when the process ended


async def test_health_and_a_missing_browser(ctx: CallContext) -> None:
    assert (await BrowserDriver().health()).ok
    missing = BrowserDriver(BrowserConfig(executable="/nonexistent/chromium"))
    health = await missing.health()
    assert not health.ok and "apt-get install chromium" in health.detail
    with pytest.raises(ToolError, match="cannot start Chromium at /nonexistent/chromium"):
        await op(missing, ctx, "open", OpenArgs(url="about:blank"))
    await missing.close()
