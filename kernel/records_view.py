"""The kernel's records as the daemon reads them (`contracts.KernelRecords`): the store, the live table and
the engines behind one read-only face."""

from __future__ import annotations

from collections.abc import Callable

from aios.kernel.approvals import ApprovalRecord
from aios.kernel.engines.interface import EngineInfo
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.kv_types import KVEntry
from aios.kernel.records import AuditRow, ProcessRecord
from aios.kernel.store import ProcessStore


class StoredRecords:
    """Reads for the API; `live` gives a running process's in-memory record (the store lags it a batch)."""

    def __init__(
        self, store: ProcessStore, engines: EngineRegistry, live: Callable[[int], ProcessRecord]
    ) -> None:
        self._store = store
        self._engines = engines
        self._live = live

    def processes(
        self, *, limit: int, active_only: bool = False, owner: str | None = None, state: str | None = None
    ) -> list[ProcessRecord]:
        rows = self._store.list_processes(limit=limit, active_only=active_only, owner=owner, state=state)
        return [row if row.state.is_terminal else self._live(row.pid) for row in rows]

    def audit(self, pid: int, *, limit: int) -> list[AuditRow]:
        self._store.flush()
        return self._store.audit(pid=pid, limit=limit)

    def approval(self, approval_id: int) -> ApprovalRecord | None:
        return self._store.get_approval(approval_id)

    def approvals(self, *, pending_only: bool, limit: int) -> list[ApprovalRecord]:
        return self._store.list_approvals(pending_only=pending_only, limit=limit)

    def models(self) -> list[EngineInfo]:
        return self._engines.describe()

    def resolve_model(self, name: str | None) -> str:
        return self._engines.resolve(name)

    def kv(self) -> dict[str, list[KVEntry]]:
        return {engine.info().name: engine.kv_entries() for engine in self._engines.loaded()}
