"""Memory, for users: list, search, show, forget and export their own (an admin may name any user)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from aios.api.auth import User
from aios.api.families import Routes, family
from aios.api.params import Id
from aios.api.tokens import Principal
from aios.kernel.memory_port import MemoryHit, MemoryItem
from aios.memory.manager import MemoryManager
from aios.memory.retrieval import RecallQuery
from aios.memory.schema import scope_token

router = APIRouter(prefix="/v1/memory", tags=["memory"])


class Memory(Routes, router=router):
    """Users' memories: browse, search as agents recall, forget, export (404 when memory is disabled)."""

    def __init__(self, manager: MemoryManager | None) -> None:
        self.manager = manager


State = Annotated[Memory, Depends(family(Memory))]
Tier = Literal["short", "mid", "long", "archive"]


def _manager(state: Memory) -> MemoryManager:
    if state.manager is None:
        raise HTTPException(404, "memory is disabled (memory.enabled = false)")
    return state.manager


def _whose(who: Principal, user: str | None) -> str:
    if user is not None and user != who.user and not who.admin:
        raise HTTPException(403, "only an admin may read another user's memory")
    return user or who.user


def _mine(state: Memory, who: Principal, item_id: int) -> MemoryItem:
    item = _manager(state).store.get(item_id)
    if item is None or (item.user != who.user and not who.admin):
        raise HTTPException(404, f"no memory item {item_id}")
    return item


@router.get("", summary="Memories, newest first")
async def list_items(
    who: User,
    state: State,
    user: str | None = None,
    agent: str | None = None,
    tier: Tier | None = None,
    history: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[MemoryItem]:
    manager = _manager(state)
    return await asyncio.to_thread(
        manager.store.list_items,
        user=_whose(who, user),
        agent=agent,
        tiers=[tier] if tier else None,
        states=None if history else ("active",),
        order="newest",
        limit=limit,
    )


@router.get("/search", summary="Hybrid search (vectors and keywords), as agents recall")
async def search(
    who: User,
    state: State,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    user: str | None = None,
    agent: str | None = None,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[MemoryHit]:
    manager = _manager(state)
    owner = _whose(who, user)
    agents = [agent] if agent else await asyncio.to_thread(manager.store.agents, owner)
    if not agents:
        return []
    return await manager.recall(RecallQuery(scopes=[scope_token(owner, a) for a in agents], text=q, k=k))


@router.get("/{item_id}", summary="One memory")
async def show(item_id: Id, who: User, state: State) -> MemoryItem:
    return _mine(state, who, item_id)


@router.delete("/{item_id}", summary="Forget a memory (never recalled again; `purge` erases its text)")
async def forget(item_id: Id, who: User, state: State, purge: bool = False) -> MemoryItem:
    _mine(state, who, item_id)
    manager = _manager(state)
    item = await asyncio.to_thread(manager.store.forget, item_id, purge=purge)
    manager.indexer.poke()
    return item


@router.get("/export/jsonl", summary="Every memory of the user, history included, as JSON Lines")
async def export(who: User, state: State, user: str | None = None) -> StreamingResponse:
    manager = _manager(state)
    owner = _whose(who, user)

    def lines() -> Iterator[str]:
        for row in manager.store.export(user=owner):
            yield json.dumps(row) + "\n"

    return StreamingResponse(lines(), media_type="application/jsonl")
