"""Approvals, for users: what waits for a human (with the driver's dry run), and the decision."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from aios.api.auth import User
from aios.api.families import Routes, family
from aios.api.params import Id
from aios.api.tokens import Principal
from aios.kernel.approvals import ApprovalRecord
from aios.kernel.contracts import KernelAPI, KernelRecords
from aios.kernel.errors import UnknownApproval

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])


class Approvals(Routes, router=router):
    """What waits for a human, and the decisions, for the users whose processes asked."""

    def __init__(self, kernel: KernelAPI, records: KernelRecords) -> None:
        self.kernel = kernel
        self.records = records


State = Annotated[Approvals, Depends(family(Approvals))]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


async def _visible(state: Approvals, who: Principal, approval_id: int) -> ApprovalRecord:
    record = await asyncio.to_thread(state.records.approval, approval_id)
    if record is None or (not who.admin and record.owner != who.user):
        raise UnknownApproval(f"no approval request {approval_id}")
    return record


@router.get("", summary="Approval requests, newest first")
async def list_approvals(
    who: User, state: State, pending: bool = True, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[ApprovalRecord]:
    rows = await asyncio.to_thread(state.records.approvals, pending_only=pending, limit=limit)
    return [r for r in rows if who.admin or r.owner == who.user]


@router.get("/{approval_id}", summary="One request, with what the call would change")
async def show(approval_id: Id, who: User, state: State) -> ApprovalRecord:
    return await _visible(state, who, approval_id)


@router.post("/{approval_id}/approve", summary="Let the call run")
async def approve(approval_id: Id, who: User, state: State, body: Decision | None = None) -> ApprovalRecord:
    await _visible(state, who, approval_id)
    return await state.kernel.decide(approval_id, True, by=who.user, reason=body.reason if body else "")


@router.post("/{approval_id}/deny", summary="Refuse the call (the agent gets ApprovalDenied)")
async def deny(approval_id: Id, who: User, state: State, body: Decision | None = None) -> ApprovalRecord:
    await _visible(state, who, approval_id)
    return await state.kernel.decide(approval_id, False, by=who.user, reason=body.reason if body else "")
