"""What the kernel reports as it works, for the CLI's live view and, later, the daemon's event stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)


class KernelEvent(BaseModel):
    """One thing that happened to a process."""

    kind: Literal[
        "spawned",
        "resumed",
        "syscall_started",
        "syscall_queued",
        "syscall_preempted",
        "syscall_finished",
        "llm_output",
        "approval_requested",
        "approval_decided",
        "exited",
    ]
    """`syscall_queued`: an LLM call waits for an engine slot; `syscall_preempted`: its slice ended and it
    gave the slot up; `llm_output`: the next piece of an LLM call's output text (`detail.text`) as it is
    generated (the raw text: the call's result is what counts, after stop strings and tool-call parsing).
    Every `syscall_started` is followed by exactly one `syscall_finished`."""
    pid: int
    ts: float = Field(default_factory=time.time)
    syscall_id: str | None = None
    syscall: str | None = None
    """`llm`, `tool`, `memory`, `noop`, or `invalid` for a request that did not validate."""
    target: str | None = None
    """Model name or `driver.operation`."""
    status: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


Listener = Callable[[KernelEvent], None]


class EventBus:
    """Calls every subscriber for every event, in order; a failing listener never stops the kernel."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def active(self) -> bool:
        """Whether anyone listens (building an event is skipped when nobody does)."""
        return bool(self._listeners)

    def emit(self, event: KernelEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener failed")
