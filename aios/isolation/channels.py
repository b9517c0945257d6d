"""Per-process tokens and what each agent process has in flight: the kernel's side of its syscall door."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from aios.kernel.errors import InvalidSyscall, LimitExceeded, PermissionDenied, ProcessKilled

T = TypeVar("T")

logger = logging.getLogger(__name__)

PROCESS_TOKEN_PREFIX = "aiosp_"


class ExitReport(BaseModel):
    """What an agent process says about its end before it exits: its result, or the error it failed with."""

    result: str | None = None
    error: str | None = None
    traceback: str | None = None


RECENT_KEYS = 16
"""Finished syscalls per process remembered by idempotency key, besides those still running: a request
sent again after its connection failed is answered from here (or joins the call still running) instead
of running twice."""
MAX_KEY_CHARS = 100
CLEANUP_TIMEOUT_S = 10.0
"""How long closing a channel waits for its cancelled syscalls to clean up before it lets them go on alone."""


@dataclass
class _Channel:
    pid: int
    digest: str
    inflight: set[asyncio.Future[object]] = field(default_factory=set)
    recent: OrderedDict[str, asyncio.Future[object]] = field(default_factory=OrderedDict)
    """Idempotency key -> the syscall sent under it (running or done), newest last."""
    waiting: dict[asyncio.Future[object], int] = field(default_factory=dict)
    """Running syscall -> how many requests wait for it (the first, and any sent again)."""
    exit: ExitReport | None = None
    reported: asyncio.Event = field(default_factory=asyncio.Event)
    in_use: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
    """Entered while each syscall runs (an attached process's lease: it cannot go idle under one)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _forget_finished(recent: OrderedDict[str, asyncio.Future[object]]) -> None:
    """Keep every running syscall (a request may yet be sent again) and the newest finished ones."""
    finished = [key for key, task in recent.items() if task.done()]
    for key in finished[: max(0, len(finished) - RECENT_KEYS)]:
        del recent[key]


class AgentChannels:
    """Tokens minted at spawn and revoked at exit; a token opens exactly one process's syscalls."""

    def __init__(self, *, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self._by_digest: dict[str, _Channel] = {}
        self._by_pid: dict[int, _Channel] = {}

    def open(self, pid: int, *, in_use: Callable[[], AbstractContextManager[object]] | None = None) -> str:
        """A fresh token for `pid` (shown once, to the process it is for); `in_use` is entered while each of
        its syscalls runs."""
        token = PROCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
        channel = _Channel(pid=pid, digest=digest(token), in_use=in_use or contextlib.nullcontext)
        self._by_digest[channel.digest] = channel
        self._by_pid[pid] = channel
        return token

    def pid_for(self, token: str) -> int | None:
        """The process a token belongs to, or None for an unknown or revoked one."""
        channel = self._by_digest.get(digest(token))
        return None if channel is None else channel.pid

    async def call(
        self, pid: int, work: Callable[[], Coroutine[object, object, T]], *, key: str | None = None
    ) -> T:
        """Run one syscall of `pid` so that closing the channel cancels it; refuses a flood.

        A `key` the process sent before (its connection failed and it sent the request again) gets the
        first call's outcome: the syscall runs once.
        """
        channel = self._by_pid.get(pid)
        if channel is None:
            raise PermissionDenied("this process has ended; its token is revoked", pid=pid)
        if key is not None and len(key) > MAX_KEY_CHARS:
            raise InvalidSyscall(f"an idempotency key has at most {MAX_KEY_CHARS} characters", pid=pid)
        task = channel.recent.get(key) if key is not None else None
        if task is None:
            if len(channel.inflight) >= self.max_inflight:
                raise LimitExceeded(
                    f"more than {self.max_inflight} syscalls in flight (agents.max_inflight_syscalls)",
                    pid=pid,
                )
            task = asyncio.ensure_future(work())
            channel.inflight.add(task)
            task.add_done_callback(channel.inflight.discard)
            if key is not None:
                channel.recent[key] = task
                _forget_finished(channel.recent)
        channel.waiting[task] = channel.waiting.get(task, 0) + 1
        try:
            with channel.in_use():
                await asyncio.wait({task})
        except asyncio.CancelledError:
            if channel.waiting.get(task) == 1:
                task.cancel()  # the caller went away, and nobody sent it again: so does its syscall
            raise
        finally:
            channel.waiting[task] -= 1
            if not channel.waiting[task]:
                del channel.waiting[task]
        if task.cancelled():
            raise ProcessKilled("the process ended while this syscall ran", pid=pid)
        return task.result()  # type: ignore[return-value]

    def report_exit(self, pid: int, report: ExitReport) -> None:
        channel = self._by_pid.get(pid)
        if channel is not None and channel.exit is None:
            channel.exit = report
            channel.reported.set()

    async def reported(self, pid: int) -> None:
        """Until the process reports its end (an agent attached from a remote program has no OS process
        of ours to watch)."""
        channel = self._by_pid.get(pid)
        if channel is not None:
            await channel.reported.wait()

    async def close(self, pid: int) -> ExitReport | None:
        """Revoke the token, stop the syscalls still in flight, and return what the process reported.

        It waits until those syscalls have cleaned up (a shell command killed and reaped), so nothing the
        process started outlives it.
        """
        channel = self._by_pid.pop(pid, None)
        if channel is None:
            return None
        del self._by_digest[channel.digest]
        running = set(channel.inflight)
        for task in running:
            task.cancel()
        channel.recent.clear()
        if running:
            _, stuck = await asyncio.wait(running, timeout=CLEANUP_TIMEOUT_S)
            if stuck:
                logger.warning("pid %d: %d syscall(s) still cleaning up after it ended", pid, len(stuck))
        return channel.exit

    def open_pids(self) -> list[int]:
        return list(self._by_pid)
