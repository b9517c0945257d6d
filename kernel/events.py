"""What the kernel reports as it works, for the CLI's live view and, later, the daemon's event stream."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field


class KernelEvent(BaseModel):
    """One thing that happened to a process."""

    kind: Literal[
        "spawned", "syscall_started", "syscall_finished", "approval_requested", "approval_decided", "exited"
    ]
    pid: int
    ts: float = Field(default_factory=time.time)
    syscall_id: str | None = None
    syscall: str | None = None
    """`llm`, `tool`, `memory` or `noop`."""
    target: str | None = None
    """Model name or `driver.operation`."""
    status: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
