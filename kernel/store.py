"""The persistent process table and audit log (SQLAlchemy 2; SQLite in WAL mode unless told otherwise)."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aios.kernel.approvals import ApprovalRecord
from aios.kernel.database import open_database
from aios.kernel.errors import UnknownApproval
from aios.kernel.records import AuditRow, ProcessRecord, ProcessState

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


_Write = tuple[str, int, dict[str, Any], "Future[None] | None"]


class Base(DeclarativeBase):
    pass


class ProcessRow(Base):
    __tablename__ = "processes"

    pid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32), index=True)
    task: Mapped[str] = mapped_column(Text)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    parent_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    queue_wait_ms: Mapped[float] = mapped_column(Float, default=0.0)
    host_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kv_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    kv_tokens: Mapped[int] = mapped_column(Integer, default=0)
    kv_host_bytes: Mapped[int] = mapped_column(Integer, default=0)
    entry: Mapped[str | None] = mapped_column(String(500), nullable=True)
    isolated: Mapped[bool] = mapped_column(Boolean, default=False)


class JournalRow(Base):
    __tablename__ = "syscall_journal"
    __table_args__ = (UniqueConstraint("pid", "seq", name="uq_syscall_journal_pid_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pid: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    ts: Mapped[float] = mapped_column(Float)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditLogRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    pid: Mapped[int] = mapped_column(Integer, index=True)
    syscall_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    queue_wait_us: Mapped[int] = mapped_column(Integer, default=0)
    service_us: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApprovalRow(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pid: Mapped[int] = mapped_column(Integer)
    syscall_id: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    risk: Mapped[str] = mapped_column(String(16))
    why: Mapped[str] = mapped_column(Text, default="")
    preview: Mapped[Any] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    requested_at: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class ProcessStore:
    """Reads synchronously; writes on one background thread so the event loop never waits on the disk."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_database(url, MIGRATIONS_DIR)
        # ('audit', 0, row, None) | ('journal', 0, row, committed) | ('update', pid, fields, None) | None
        self._writes: queue.Queue[_Write | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="aios-store-writer", daemon=True)
        self._writer.start()

    # ---- writes ----------------------------------------------------------------------------------

    def create_process(self, record: ProcessRecord) -> int:
        """Insert a process row and return its pid (blocking: call from a thread)."""
        data = record.model_dump(exclude={"pid"})
        with Session(self.engine) as session, session.begin():
            row = ProcessRow(**data)
            session.add(row)
            session.flush()
            return row.pid

    def update_process(self, pid: int, **fields: Any) -> None:
        """Queue an update of a process row; queued updates of one pid are merged."""
        self._writes.put(("update", pid, fields, None))

    def append_audit(self, **fields: Any) -> None:
        """Queue one audit row (the columns of `AuditRow` but its id)."""
        self._writes.put(("audit", 0, fields, None))

    def append_journal(self, **fields: Any) -> Future[None]:
        """Queue one journal row; the future is done once it is committed (rows share commits)."""
        committed: Future[None] = Future()
        self._writes.put(("journal", 0, fields, committed))
        return committed

    def flush(self) -> None:
        """Block until every queued write is committed."""
        self._writes.join()

    def close(self) -> None:
        self.flush()
        self._writes.put(None)
        self._writer.join(timeout=10)
        self.engine.dispose()

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            items = [self._writes.get()]
            while True:
                try:
                    items.append(self._writes.get_nowait())
                except queue.Empty:
                    break
            stopping = None in items
            writes = [item for item in items if item is not None]
            audits = [item[2] for item in writes if item[0] == "audit"]
            journal = [item[2] for item in writes if item[0] == "journal"]
            pid_to_fields: dict[int, dict[str, Any]] = {}
            for kind, pid, fields, _ in writes:
                if kind == "update":
                    pid_to_fields.setdefault(pid, {}).update(fields)
            failure: Exception | None = None
            try:
                with self.engine.begin() as connection:
                    if journal:
                        connection.execute(insert(JournalRow), journal)
                    if audits:
                        connection.execute(insert(AuditLogRow), audits)
                    for pid, fields in pid_to_fields.items():
                        connection.execute(update(ProcessRow).where(ProcessRow.pid == pid).values(**fields))
            except Exception as e:
                logger.exception("store: a batch of %d writes failed", len(items))
                failure = e
            finally:
                for *_, committed in writes:
                    if committed is not None:
                        if failure is None:
                            committed.set_result(None)
                        else:
                            committed.set_exception(failure)
                for _ in items:
                    self._writes.task_done()

    # ---- reads -----------------------------------------------------------------------------------

    def get_process(self, pid: int) -> ProcessRecord | None:
        with Session(self.engine) as session:
            row = session.get(ProcessRow, pid)
            return ProcessRecord.model_validate(row) if row else None

    def list_processes(
        self,
        *,
        limit: int = 50,
        active_only: bool = False,
        owner: str | None = None,
        state: str | None = None,
    ) -> list[ProcessRecord]:
        query = select(ProcessRow).order_by(ProcessRow.pid.desc()).limit(limit)
        if owner is not None:
            query = query.where(ProcessRow.owner == owner)
        if state is not None:
            query = query.where(ProcessRow.state == state)
        if active_only:
            terminal = [s.value for s in ProcessState if s.is_terminal]
            query = query.where(ProcessRow.state.not_in(terminal))
        with Session(self.engine) as session:
            return [ProcessRecord.model_validate(r) for r in session.scalars(query)]

    def journal(self, pid: int) -> list[dict[str, Any]]:
        """A process's journaled syscalls in the order they were asked (`seq`, `request`, `outcome`)."""
        query = select(JournalRow).where(JournalRow.pid == pid).order_by(JournalRow.seq)
        with Session(self.engine) as session:
            return [
                {"seq": r.seq, "request": r.request, "outcome": r.outcome} for r in session.scalars(query)
            ]

    def recent_audit(self, *, kinds: tuple[str, ...], limit: int) -> list[AuditRow]:
        """The latest `limit` successful rows of these kinds, oldest first."""
        query = (
            select(AuditLogRow)
            .where(AuditLogRow.kind.in_(kinds), AuditLogRow.status == "ok")
            .order_by(AuditLogRow.id.desc())
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [AuditRow.model_validate(r) for r in reversed(session.scalars(query).all())]

    def audit(self, *, pid: int | None = None, limit: int = 1000) -> list[AuditRow]:
        query = select(AuditLogRow).order_by(AuditLogRow.id).limit(limit)
        if pid is not None:
            query = query.where(AuditLogRow.pid == pid)
        with Session(self.engine) as session:
            return [AuditRow.model_validate(r) for r in session.scalars(query)]

    # ---- approvals (synchronous: a human is waiting anyway) --------------------------------------

    def create_approval(self, **fields: Any) -> ApprovalRecord:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = ApprovalRow(state="pending", **fields)
            session.add(row)
            session.flush()
            return ApprovalRecord.model_validate(row)

    def get_approval(self, approval_id: int) -> ApprovalRecord | None:
        with Session(self.engine) as session:
            row = session.get(ApprovalRow, approval_id)
            return ApprovalRecord.model_validate(row) if row else None

    def list_approvals(self, *, pending_only: bool = True, limit: int = 50) -> list[ApprovalRecord]:
        query = select(ApprovalRow).order_by(ApprovalRow.id.desc()).limit(limit)
        if pending_only:
            query = query.where(ApprovalRow.state == "pending")
        with Session(self.engine) as session:
            return [ApprovalRecord.model_validate(r) for r in session.scalars(query)]

    def decide_approval(self, approval_id: int, state: str, *, by: str, reason: str = "") -> ApprovalRecord:
        """Record a decision on a pending request; a request is decided once (first decision wins)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(ApprovalRow, approval_id)
            if row is None:
                raise UnknownApproval(f"no approval request {approval_id}")
            if row.state != "pending":
                raise UnknownApproval(
                    f"approval request {approval_id} is already {row.state} (by {row.decided_by})"
                )
            row.state, row.decided_by, row.reason, row.decided_at = state, by, reason, time.time()
            return ApprovalRecord.model_validate(row)

    def kv_processes(self) -> list[ProcessRecord]:
        """Processes whose KV cache the engine still holds (resident or swapped)."""
        query = select(ProcessRow).where(ProcessRow.kv_state.is_not(None)).order_by(ProcessRow.pid)
        with Session(self.engine) as session:
            return [ProcessRecord.model_validate(r) for r in session.scalars(query)]

    def reap_orphans(self, now: float) -> list[int]:
        """Processes that looked live when their kernel died: `interrupted` if they can be resumed (their
        program is known), else `failed`. Returns their pids."""
        terminal = [s.value for s in ProcessState if s.is_terminal]
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(select(ProcessRow).where(ProcessRow.state.not_in(terminal))).all()
            reaped = []
            for row in rows:
                if row.host_pid is not None and _alive(row.host_pid):
                    continue
                was = f"kernel process {row.host_pid} died while this process was {row.state}"
                if row.entry is not None:
                    row.state, row.error = ProcessState.INTERRUPTED.value, f"interrupted: {was}"
                else:
                    row.state, row.error = ProcessState.FAILED.value, f"orphaned: {was}"
                row.ended_at = now
                reaped.append(row.pid)
            return reaped


def _alive(os_pid: int) -> bool:
    try:
        os.kill(os_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
