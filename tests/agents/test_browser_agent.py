"""The browser agent on a local page: its loop on a scripted engine, and a real run on the embedded model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel

from aios.agent_launch import spawn_agent
from aios.agents.browser import BrowserAgent, describe_page
from aios.kernel.drivers import CallContext
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.browser import BrowserDriver

from ..fakes import FakeEngine

PAGE = b"""<html><head><title>Opening hours</title></head><body>
<h1>Opening hours</h1><p>The library opens at nine o'clock.</p><a href="/">Home</a></body></html>"""


class PageHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on the agent, not on the log."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, name="agent-site")
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


class RecordingBrowser(BrowserDriver):
    """The real driver, noting each call that reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, str]] = []

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> dict[str, Any]:
        self.calls.append((ctx.pid, operation))
        return await super().call(operation, args, ctx)


def test_outputs_read_as_short_text() -> None:
    text = describe_page(
        {
            "url": "http://x/",
            "title": "T",
            "blocked": ["http://evil/"],
            "status": 200,
            "preview": "Hello",
            "truncated": False,
            "moved": True,
            "path": None,
        }
    )
    assert text == "url: http://x/\ntitle: T\nblocked: http://evil/\nstatus: 200\nmoved: yes\npreview:\nHello"
    assert describe_page({"snapshot": "- x " * 1000, "truncated": True}).endswith("[... cut]")
    assert BrowserAgent().failed({"status": 404}) and not BrowserAgent().failed({"status": 200})


async def test_the_agent_reads_a_page_through_the_driver(kernel: Kernel, site: str) -> None:
    browser = RecordingBrowser()
    kernel.drivers["browser"] = browser
    engine = FakeEngine(
        calls=[("browser.open", {"url": site}), ("browser.read_text", {})], answer="It opens at nine."
    )
    kernel.engines.register("local", engine)
    pid = await spawn_agent(kernel, BrowserAgent, f"When does the library at {site} open?")
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "It opens at nine."
    assert browser.calls == [(pid, "open"), (pid, "read_text")]
    offered = {t.name for t in engine.requests[0].tools}
    assert {"browser.open", "browser.click", "browser.download"} <= offered
    assert not any(name.startswith("shell.") for name in offered)
    observations = [m.content for m in engine.requests[-1].messages if m.role == "tool"]
    assert f"url: {site}\ntitle: Opening hours\nstatus: 200" in observations[0]
    assert "The library opens at nine o'clock." in observations[1]
    assert browser.sessions == {}  # the kernel released the process's context


@pytest.mark.model
async def test_the_agent_on_the_embedded_model_calls_the_browser(model_kernel: Kernel, site: str) -> None:
    browser = RecordingBrowser()
    model_kernel.drivers["browser"] = browser
    pid = await spawn_agent(model_kernel, BrowserAgent, f"Open {site} and tell me when the library opens.")
    record = await asyncio.wait_for(model_kernel.wait(pid), timeout=240)
    assert record.state == ProcessState.DONE, record.error
    assert record.result
    assert browser.calls, "no browser call reached the driver"
    assert {pid} == {p for p, _ in browser.calls}
    await asyncio.to_thread(model_kernel.store.flush)
    tools = [r for r in model_kernel.store.audit(pid=pid) if r.kind == "tool"]
    assert tools and all(r.target.startswith("browser.") for r in tools), tools
    reached = [r for r in tools if not (r.error or "").startswith("bad arguments")]
    assert len(reached) >= len(browser.calls) >= 1
