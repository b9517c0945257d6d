"""Where operations wait for a human: a stored request, decided here (`aios run`'s prompt) or by
`aios approve` in another process (seen in the store), denied when nobody answers in time."""

from __future__ import annotations

import asyncio
from typing import Any

from aios.kernel.approvals import ApprovalPolicy, ApprovalRecord
from aios.kernel.errors import ApprovalDenied, UnknownApproval
from aios.kernel.events import EventBus, KernelEvent
from aios.kernel.store import ProcessStore

APPROVAL_POLL_S = 0.25
"""How often a waiting request looks for a decision made by `aios approve` in another process."""


class ApprovalDesk:
    def __init__(self, store: ProcessStore, events: EventBus, policy: ApprovalPolicy) -> None:
        self.store = store
        self.events = events
        self.policy = policy
        self._waiters: dict[int, asyncio.Future[ApprovalRecord]] = {}  # approval id -> its decision

    async def open(self, *, pid: int, syscall_id: str, tool: str, **request: Any) -> ApprovalRecord:
        """Store a request for a human and announce it (`approval_requested`)."""
        record = await asyncio.to_thread(
            self.store.create_approval, pid=pid, syscall_id=syscall_id, tool=tool, **request
        )
        self._waiters[record.id] = asyncio.get_running_loop().create_future()
        self.events.emit(
            KernelEvent(
                kind="approval_requested",
                pid=pid,
                syscall_id=syscall_id,
                syscall="tool",
                target=tool,
                detail={
                    "approval": record.id,
                    "arguments": record.arguments,
                    "why": record.why,
                    "preview": record.preview,
                },
            )
        )
        return record

    async def outcome(self, record: ApprovalRecord) -> dict[str, Any]:
        """Block until a human decides an opened request; returns what the audit row keeps, or raises
        ApprovalDenied (denied, expired, or cancelled with the process)."""
        waiter = self._waiters[record.id]
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                decided = await self._decision(record.id, waiter)
        except TimeoutError:
            decided = await self._settle(record.id, "expired", "timeout", "nobody answered in time")
        except asyncio.CancelledError:
            await asyncio.shield(self._settle(record.id, "cancelled", "kernel", "the process ended"))
            raise
        finally:
            self._waiters.pop(record.id, None)
        self.events.emit(
            KernelEvent(
                kind="approval_decided",
                pid=record.pid,
                syscall_id=record.syscall_id,
                target=record.tool,
                status=decided.state,
                detail={"approval": record.id, "by": decided.decided_by, "reason": decided.reason},
            )
        )
        if decided.state != "approved":
            reason = f": {decided.reason}" if decided.reason else ""
            raise ApprovalDenied(
                f"{record.tool} was {decided.state} (approval {record.id}, by {decided.decided_by}){reason}",
                pid=record.pid,
                syscall_id=record.syscall_id,
            )
        return {"approval": record.id, "approved_by": decided.decided_by}

    async def decide(self, approval_id: int, approve: bool, *, by: str, reason: str = "") -> ApprovalRecord:
        """Approve or deny a pending request (the prompt of `aios run`; `aios approve` writes the store)."""
        record = await asyncio.to_thread(
            self.store.decide_approval, approval_id, "approved" if approve else "denied", by=by, reason=reason
        )
        waiter = self._waiters.get(approval_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(record)
        return record

    async def _decision(self, approval_id: int, waiter: asyncio.Future[ApprovalRecord]) -> ApprovalRecord:
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=APPROVAL_POLL_S)
            if done:
                return waiter.result()
            record = await asyncio.to_thread(self.store.get_approval, approval_id)
            if record is not None and record.state != "pending":
                return record

    async def _settle(self, approval_id: int, state: str, by: str, reason: str) -> ApprovalRecord:
        try:
            return await asyncio.to_thread(
                self.store.decide_approval, approval_id, state, by=by, reason=reason
            )
        except UnknownApproval:  # decided at the last moment: that decision stands
            record = await asyncio.to_thread(self.store.get_approval, approval_id)
            assert record is not None
            return record
