"""Every syscall is audited once: a `syscall_started` event when it begins, then exactly one
`syscall_finished` event and one audit row, whatever way it ends (result, error, denial, kill)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from aios.kernel.errors import AiosError, PermissionDenied
from aios.kernel.events import EventBus, KernelEvent
from aios.kernel.store import ProcessStore


class SyscallAudit:
    """One syscall in progress, used as a context manager around its body: the body calls `finish` on
    success; an error raised in it finishes the syscall as `error`, `denied` or `killed` (and gets the pid
    and syscall id attached). Only the first `finish` counts."""

    def __init__(
        self, auditor: Auditor, *, pid: int, syscall_id: str, kind: str, target: str, detail: dict[str, Any]
    ) -> None:
        self._auditor = auditor
        self.pid = pid
        self.syscall_id = syscall_id
        self.kind = kind
        self.target = target
        self.detail = detail
        """Recorded with the outcome, whatever it is (a tool call's arguments)."""
        self.started = time.monotonic()
        self.finished = False

    def __enter__(self) -> SyscallAudit:
        self._tell("syscall_started", None, lambda: self.detail)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if error is None:
            self.finish("ok")
        elif isinstance(error, asyncio.CancelledError):
            self.finish("killed", error="cancelled")
        elif isinstance(error, AiosError):
            if error.pid is None:
                error.pid = self.pid
            if error.syscall_id is None:
                error.syscall_id = self.syscall_id
            self.finish("denied" if isinstance(error, PermissionDenied) else "error", error=str(error))
        else:
            self.finish("error", error=f"{type(error).__name__}: {error}")

    def finish(
        self,
        status: str,
        *,
        error: str | None = None,
        queue_wait_us: int = 0,
        service_us: int | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        detail: dict[str, Any] | None = None,
        event: dict[str, Any] | None = None,
    ) -> None:
        """Write the audit row and tell listeners; `event` adds what only the live view shows."""
        if self.finished:
            return
        self.finished = True
        if service_us is None:
            service_us = int((time.monotonic() - self.started) * 1e6) - queue_wait_us
        row_detail = {**self.detail, **detail} if detail else self.detail
        self._tell(
            "syscall_finished",
            status,
            lambda: {**row_detail, **(event or {}), "error": error, "service_ms": service_us / 1000},
        )
        self._auditor.store.append_audit(
            ts=time.time(),
            pid=self.pid,
            syscall_id=self.syscall_id,
            kind=self.kind,
            target=self.target,
            status=status,
            error=error,
            queue_wait_us=queue_wait_us,
            service_us=max(0, service_us),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            detail=row_detail,
        )

    def _tell(
        self,
        kind: Literal["syscall_started", "syscall_finished"],
        status: str | None,
        detail: Callable[[], dict[str, Any]],
    ) -> None:
        """An event for listeners; not even built when nobody listens (no-op syscalls are timed in µs)."""
        events = self._auditor.events
        if events.active:
            events.emit(
                KernelEvent(
                    kind=kind,
                    pid=self.pid,
                    syscall_id=self.syscall_id,
                    syscall=self.kind,
                    target=self.target,
                    status=status,
                    detail=detail(),
                )
            )


class Auditor:
    def __init__(self, store: ProcessStore, events: EventBus) -> None:
        self.store = store
        self.events = events

    def syscall(
        self, *, pid: int, syscall_id: str, kind: str, target: str, detail: dict[str, Any] | None = None
    ) -> SyscallAudit:
        """The audit of one syscall, to wrap its body in (`with auditor.syscall(...) as audit:`)."""
        return SyscallAudit(
            self, pid=pid, syscall_id=syscall_id, kind=kind, target=target, detail=detail or {}
        )
