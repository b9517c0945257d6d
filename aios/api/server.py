"""Serves the API inside the kernel's event loop: on a Unix socket (0600), and on TCP when asked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)

MAX_SOCKET_PATH = 107
"""Linux's limit on a Unix socket's path (sun_path is 108 bytes with its terminating NUL)."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it decides what a signal means."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def unix_listener(path: Path) -> socket.socket:
    """A listening Unix socket only its owner may connect to (a stale file from a dead daemon is replaced)."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise OSError(f"socket path {path} is longer than {MAX_SOCKET_PATH} bytes; choose a shorter one")
    path.parent.mkdir(parents=True, exist_ok=True)
    if _answers(path):
        raise OSError(f"something already listens on {path} (another aios daemon?)")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # never connectable by others, not even between bind and chmod
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def tcp_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class ApiServer:
    """Apps on several listeners; `listen` returns once its listener accepts connections.

    Stopping has two steps, so a daemon can refuse new connections first, then end what it holds (streams
    end with it), and only then wait for the last requests: `stop_accepting`, then `stop`.
    """

    def __init__(self) -> None:
        self._servers: list[tuple[_Server, socket.socket, asyncio.Task[None], str | None]] = []

    async def listen(
        self,
        app: FastAPI,
        sock: socket.socket,
        *,
        certfile: Path | None = None,
        keyfile: Path | None = None,
    ) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="httptools",
            ws="none",
            timeout_graceful_shutdown=5,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"aios-api-{sock.getsockname()}")
        while not server.started:
            if task.done():
                task.result()
                raise OSError(f"the API server on {sock.getsockname()} stopped while starting")
            await asyncio.sleep(0.005)
        # uvicorn closes the listener when it stops, and then it no longer knows its path
        path = sock.getsockname() if sock.family == socket.AF_UNIX else None
        self._servers.append((server, sock, task, path))

    def stop_accepting(self) -> None:
        """Refuse new connections; requests in progress go on."""
        for server, *_ in self._servers:
            for listener in server.servers:
                listener.close()

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish (a few seconds at most), close the listeners."""
        for server, *_ in self._servers:
            server.should_exit = True
        for _server, sock, task, path in self._servers:
            with contextlib.suppress(Exception):
                await task
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            sock.close()
        self._servers.clear()
