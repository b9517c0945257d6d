"""Every syscall is audited once: a `syscall_started` event when it begins, then exactly one
`syscall_finished` event and one audit row, whatever way it ends (result, error, denial, kill)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from aios.kernel.errors import AiosError, PermissionDenied
from aios.kernel.events import EventBus, KernelEvent
from aios.kernel.records import AuditRow
from aios.kernel.store import ProcessStore


class SyscallAudit:
    """One syscall in progress; `finish` records its outcome the first time it is called."""

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
        row_detail = {**self.detail, **(detail or {})}
        events = self._auditor.events
        if events.active:
            events.emit(
                KernelEvent(
                    kind="syscall_finished",
                    pid=self.pid,
                    syscall_id=self.syscall_id,
                    syscall=self.kind,
                    target=self.target,
                    status=status,
                    detail={**row_detail, **(event or {}), "error": error, "service_ms": service_us / 1000},
                )
            )
        self._auditor.store.append_audit(
            AuditRow(
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
        )


class Auditor:
    def __init__(self, store: ProcessStore, events: EventBus) -> None:
        self.store = store
        self.events = events

    @contextlib.contextmanager
    def syscall(
        self, *, pid: int, syscall_id: str, kind: str, target: str, detail: dict[str, Any] | None = None
    ) -> Iterator[SyscallAudit]:
        """Audit the body as one syscall: errors raised in it finish it as `error`, `denied` or `killed`
        (and get the pid and syscall id attached); the body finishes it itself on success."""
        detail = detail or {}
        if self.events.active:
            self.events.emit(
                KernelEvent(
                    kind="syscall_started",
                    pid=pid,
                    syscall_id=syscall_id,
                    syscall=kind,
                    target=target,
                    detail=detail,
                )
            )
        audit = SyscallAudit(self, pid=pid, syscall_id=syscall_id, kind=kind, target=target, detail=detail)
        try:
            yield audit
        except asyncio.CancelledError:
            audit.finish("killed", error="cancelled")
            raise
        except AiosError as e:
            if e.pid is None:
                e.pid = pid
            if e.syscall_id is None:
                e.syscall_id = syscall_id
            audit.finish("denied" if isinstance(e, PermissionDenied) else "error", error=str(e))
            raise
        except BaseException as e:
            audit.finish("error", error=f"{type(e).__name__}: {e}")
            raise
        finally:
            audit.finish("ok")
