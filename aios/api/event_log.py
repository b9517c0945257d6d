"""The kernel's events, numbered and kept for a while, so an event stream can be resumed where it broke."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aios.kernel.contracts import KernelAPI
from aios.kernel.errors import AiosError
from aios.kernel.events import KernelEvent

RETAINED = 20_000
"""Events kept for resuming streams; a client further behind is told it missed some (`gap`)."""


@dataclass(frozen=True, slots=True)
class Numbered:
    id: int
    owner: str
    event: KernelEvent


class EventLog:
    """Every kernel event with an increasing id and the owner of its process."""

    def __init__(self, kernel: KernelAPI, *, retained: int = RETAINED) -> None:
        self.kernel = kernel
        self._events: deque[Numbered] = deque(maxlen=retained)
        self._next_id = 1
        self._arrived = asyncio.Event()
        self._closed = False
        self._unsubscribe = kernel.subscribe(self._on_event)

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    def _on_event(self, event: KernelEvent) -> None:
        try:
            owner = self.kernel.process(event.pid).owner
        except AiosError:
            owner = ""
        self._events.append(Numbered(self._next_id, owner, event))
        self._next_id += 1
        self._arrived.set()
        self._arrived = asyncio.Event()

    def holds_exit(self, pid: int, *, after: int) -> bool:
        """Whether a kept event past `after` says that `pid` exited (a stream from there will see its end)."""
        return any(
            n.id > after and n.event.pid == pid and n.event.kind == "exited" for n in reversed(self._events)
        )

    def close(self) -> None:
        """Stop numbering; every stream that follows the log ends (so the server can stop at once)."""
        self._unsubscribe()
        self._closed = True
        self._arrived.set()

    async def follow(
        self, *, after: int, visible: Callable[[Numbered], bool], wait: bool = True
    ) -> AsyncIterator[Numbered | int]:
        """Events with ids past `after` that `visible` allows, waiting for new ones forever (or, without
        `wait`, ending once the kept ones are sent); an int in the stream is the id of the first event still
        kept, when events between `after` and it were dropped."""
        cursor = after
        while not self._closed:
            arrived = self._arrived
            oldest = self._events[0].id if self._events else self._next_id
            if cursor + 1 < oldest:
                yield oldest
                cursor = oldest - 1
            start = cursor + 1 - oldest
            fresh = [self._events[i] for i in range(max(start, 0), len(self._events))]
            for numbered in fresh:
                cursor = numbered.id
                if visible(numbered):
                    yield numbered
            if not fresh:
                if not wait:
                    return
                await arrived.wait()
