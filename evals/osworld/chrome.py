"""The task browser's DevTools endpoint, reached inside the task's network namespace (the host has no route
to it, and the task has no route out)."""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import socket
import threading
from typing import Any
from urllib.parse import quote

from websockets.sync.client import connect

DEBUG_PORT = 9222
"""Every Chromium of a task listens here (the task's `google-chrome` adds it last, so it wins)."""
CLONE_NEWNET = 0x40000000
TIMEOUT_S = 10.0


class BrowserUnavailable(ConnectionError):
    """No browser with a debugging port runs in the task (a getter of it scores 0)."""


def _socket_in(netns: str, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:`port` of another network namespace.

    setns() moves only the calling thread, so a short-lived thread enters the namespace and makes the
    socket; the socket stays bound to that namespace after the thread ends.
    """
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def enter_and_connect() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(netns, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns({netns})")
            made.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S))
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=enter_and_connect, name="task-netns")
    thread.start()
    thread.join()
    if failed:
        raise BrowserUnavailable(f"no browser debugging port in the task: {failed[0]}") from failed[0]
    return made[0]


class TaskBrowser:
    """Tabs and pages of the Chromium running in one task's sandbox."""

    def __init__(self, sandbox_pid: int, port: int = DEBUG_PORT) -> None:
        self.netns = f"/proc/{sandbox_pid}/ns/net"
        self.port = port

    def _http(self, method: str, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
        conn.sock = _socket_in(self.netns, self.port)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status >= 400:
            raise BrowserUnavailable(f"DevTools {method} {path}: {response.status} {body[:200]!r}")
        return json.loads(body) if body.strip().startswith((b"{", b"[")) else body.decode()

    def available(self) -> bool:
        try:
            self._http("GET", "/json/version")
        except (BrowserUnavailable, OSError, ValueError):
            return False
        return True

    def tabs(self) -> list[dict[str, str]]:
        """Open pages, the active (most recently focused) one first, as DevTools lists them."""
        targets = self._http("GET", "/json/list")
        return [
            {"id": t["id"], "title": t.get("title", ""), "url": t.get("url", "")}
            for t in targets
            if t.get("type") == "page"
        ]

    def open_tab(self, url: str) -> None:
        self._http("PUT", f"/json/new?{quote(url, safe=':/?&=#%')}")

    def close_tab(self, tab_id: str) -> None:
        self._http("GET", f"/json/close/{tab_id}")

    def activate(self, tab_id: str) -> None:
        self._http("GET", f"/json/activate/{tab_id}")

    def html(self, tab_id: str) -> str:
        """The page's current DOM as HTML."""
        return str(self.evaluate(tab_id, "document.documentElement.outerHTML"))

    def loaded(self, tab_id: str) -> bool:
        return self.evaluate(tab_id, "document.readyState") == "complete"

    def evaluate(self, tab_id: str, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        sock = _socket_in(self.netns, self.port)
        with connect(
            f"ws://127.0.0.1:{self.port}/devtools/page/{tab_id}",
            sock=sock,
            open_timeout=TIMEOUT_S,
            max_size=64 << 20,
        ) as ws:
            ws.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {"expression": expression}}))
            while True:
                message = json.loads(ws.recv(timeout=TIMEOUT_S))
                if message.get("id") == 1:
                    return message.get("result", {}).get("result", {}).get("value")
