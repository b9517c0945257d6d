"""Kernel processes held for clients between their requests (a conversation, an MCP client's agent, a stdio
MCP server): each lives while it is used and ends when idle, when its holder lets it go, or at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aios.kernel.contracts import KernelAPI, Program
from aios.kernel.errors import AiosError, KernelShutDown

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

STOPPED = "the daemon stopped"


@dataclass(eq=False)
class Lease:
    """One held process: its program waits while the client works and returns when the lease ends."""

    idle_s: float | None
    """End after this long with no request in flight; None: only when let go."""
    pid: int = -1
    in_flight: int = 0
    last_used: float = field(default_factory=time.monotonic)
    reason: str = ""
    """Why it ended (the process's result)."""
    _ended: asyncio.Event = field(default_factory=asyncio.Event)

    def begin(self) -> None:
        """A request is in flight: the lease cannot go idle under it."""
        self.in_flight += 1

    def done(self) -> None:
        """The request is over (synchronous: a client gone mid-stream cancels whoever awaits)."""
        self.in_flight -= 1
        self.last_used = time.monotonic()

    @contextlib.contextmanager
    def using(self) -> Iterator[Lease]:
        """One request, begun and done."""
        self.begin()
        try:
            yield self
        finally:
            self.done()

    def end(self, reason: str) -> None:
        """Let the process go: its program returns `reason` (the first reason given wins)."""
        if not self._ended.is_set():
            self.reason = reason
            self._ended.set()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def program(self, _pid: int) -> str:
        """What the kernel runs for the held process."""
        while not self._ended.is_set():
            timeout = None
            if self.idle_s is not None:
                remaining = self.last_used + self.idle_s - time.monotonic()
                if self.in_flight == 0 and remaining <= 0:
                    self.end(f"idle: no request for {self.idle_s:.0f}s")
                    break
                timeout = max(remaining, self.idle_s / 4)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), timeout=timeout)
        return self.reason


Start = Callable[[Program], Awaitable[int]]
"""Spawns the held process running the given program; returns its pid."""


class Leases(Generic[K]):
    """Held processes under keys, found again while they live; one `aclose` ends them all and waits."""

    def __init__(self, kernel: KernelAPI, *, idle_s: float | None) -> None:
        self.kernel = kernel
        self.idle_s = idle_s
        self._held: dict[K, Lease] = {}
        self._one_off: set[Lease] = set()
        self._lock = asyncio.Lock()
        self._closed = False

    async def hold(self, key: K | None, start: Start, *, admit: Callable[[], None] | None = None) -> Lease:
        """The live lease under `key`, or a new one whose process `start` spawns (`admit` may refuse a new
        one by raising). A None key is a lease of its own, for one request: its holder ends it."""
        if self._closed:
            raise KernelShutDown("shutting down: no new processes are held")
        if key is None:
            self._forget_ended()
            lease = Lease(idle_s=self.idle_s)
            lease.pid = await start(lease.program)
            self._one_off.add(lease)
            return lease
        async with self._lock:
            lease = self._held.get(key)
            if lease is not None and self.alive(lease):
                lease.last_used = time.monotonic()
                return lease
            self._forget_ended()  # only when one is made: a request to a live lease is a dict lookup
            if admit is not None:
                admit()
            lease = Lease(idle_s=self.idle_s)
            lease.pid = await start(lease.program)
            self._held[key] = lease
            return lease

    def alive(self, lease: Lease) -> bool:
        return not lease.ended and not self.kernel.process(lease.pid).state.is_terminal

    def count(self, where: Callable[[K], bool]) -> int:
        """Live leases whose key matches (a per-user limit)."""
        return sum(1 for key, lease in self._held.items() if where(key) and self.alive(lease))

    def _forget_ended(self) -> None:
        for key in [k for k, lease in self._held.items() if not self.alive(lease)]:
            del self._held[key]
        self._one_off = {lease for lease in self._one_off if self.alive(lease)}

    async def aclose(self) -> None:
        """End every held process (`the daemon stopped`) and wait for each; idempotent."""
        if self._closed:
            return
        self._closed = True
        leases = [*self._held.values(), *self._one_off]
        for lease in leases:
            lease.end(STOPPED)
        for lease in leases:
            if lease.pid >= 0:
                with contextlib.suppress(AiosError):
                    await self.kernel.wait(lease.pid)
        self._held.clear()
        self._one_off.clear()
