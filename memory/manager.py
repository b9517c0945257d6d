"""The memory manager: serves memory syscalls, pages memory into prompts and runs the paging daemon."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from aios.kernel.access import grants
from aios.kernel.errors import InvalidSyscall, PermissionDenied, describe_validation
from aios.kernel.memory_port import (
    MEMORY_OWN,
    MemoryHit,
    MemoryItem,
    MemoryPort,
    MemoryScope,
    memory_read_capability,
)
from aios.kernel.syscalls import LLMResult, LLMSyscall, MemoryResult, MemorySyscall, Message
from aios.memory import context
from aios.memory.config import MemorySettings
from aios.memory.embedder import Embedder, load_embedder
from aios.memory.indexer import Indexer
from aios.memory.pager import Pager
from aios.memory.requests import ForgetArgs, ItemArgs, ObserveArgs, RecallArgs, RememberArgs
from aios.memory.retrieval import RecallQuery, Retriever
from aios.memory.schema import MemoryRow, scope_token
from aios.memory.store import MemoryStore
from aios.memory.vector_index import VectorIndex

if TYPE_CHECKING:
    from aios.kernel.contracts import MemoryServices

logger = logging.getLogger(__name__)

PAGER_AGENT = "memory.pager"
VISIT_FLUSH_S = 1.0
READ_YOUR_WRITES_S = 10.0
"""Longest a recall waits for the vector index to take earlier writes (keyword search never waits)."""


class MemoryManager(MemoryPort):
    def __init__(self, settings: MemorySettings, *, database_url: str, chroma_path: Path) -> None:
        self.settings = settings
        self.store = MemoryStore(settings.database_url or database_url)
        self._chroma_path = settings.chroma_path or chroma_path
        self._index: VectorIndex | None = None
        self._index_lock = threading.Lock()
        self.indexer = Indexer(self.store, self.index, self.embedder)
        self.retriever = Retriever(self.store, self.index, self.embedder)
        self.pager = Pager(self.store, settings, self.embedder, self.indexer.poke, model=settings.pager_model)
        self._services: MemoryServices | None = None
        self.pager_pid: int | None = None
        self._visits: Counter[int] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    # ---- lazily built parts (torch and Chroma load only when memory is used) ---------------------

    def embedder(self) -> Embedder:
        return load_embedder(self.settings.embedding_model)

    def index(self) -> VectorIndex:
        with self._index_lock:  # the indexer thread and a recall may both be first
            if self._index is None:
                self._index = VectorIndex(path=self._chroma_path, url=self.settings.chroma_url)
            return self._index

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self, services: MemoryServices) -> None:
        """Index what a previous run left unindexed; the paging daemon starts when first needed."""
        self._services = services
        if await asyncio.to_thread(self.store.unindexed, 0, 1):
            self.indexer.poke()
        if await asyncio.to_thread(self.store.pending, "segment", 1) or await asyncio.to_thread(
            self.store.pending, "summary", 1
        ):
            await self._wake_pager()

    async def _wake_pager(self) -> None:
        services = self._services
        if services is None:
            return
        if self.pager_pid is None or not services.is_running(self.pager_pid):
            self.pager_pid = await services.spawn_background(
                self._pager_program,
                agent=PAGER_AGENT,
                task="group paged-out dialogue into topics, summarise, promote hot topics, archive cold ones",
            )
        self.pager.wake.set()

    async def _pager_program(self, pid: int) -> None:
        services = self._services
        assert services is not None

        async def llm(request: LLMSyscall) -> LLMResult:
            return await services.llm(pid, request)

        await self.pager.run_forever(llm)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        await self._flush_visits()
        await asyncio.to_thread(self.indexer.stop)
        if self._index is not None:
            await asyncio.to_thread(self._index.close)
        await asyncio.to_thread(self.store.close)

    async def settle(self, within_s: float = 300.0) -> None:
        """Wait until indexing and paging have caught up (evaluations and tests want a quiet state)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            pending = await asyncio.to_thread(self.store.pending, "segment", 1) or await asyncio.to_thread(
                self.store.pending, "summary", 1
            )
            if pending:
                await self._wake_pager()
                await asyncio.sleep(0.2)
                continue
            ticket = self.indexer.poke()
            await asyncio.to_thread(self.indexer.wait_for, ticket, max(0.1, deadline - time.monotonic()))
            return
        raise TimeoutError(f"memory did not settle within {within_s:.0f}s")

    # ---- syscalls --------------------------------------------------------------------------------

    async def call(self, scope: MemoryScope, request: MemorySyscall) -> MemoryResult:
        handler, args_model = _OPS[request.op]
        try:
            args = args_model.model_validate(request.arguments)
        except ValidationError as e:
            raise InvalidSyscall(f"bad arguments for memory.{request.op}: {describe_validation(e)}") from e
        _require(scope, MEMORY_OWN)
        output, detail = await handler(self, scope, args)
        return MemoryResult(op=request.op, output=output, detail=detail)

    async def _remember(self, scope: MemoryScope, args: RememberArgs) -> tuple[Any, dict[str, Any]]:
        try:
            item = await asyncio.to_thread(
                self.store.add,
                user=scope.user,
                agent=scope.agent,
                session=args.session,
                tier="long",
                kind=args.kind,
                text=args.text,
                key=args.key,
                tags=args.tags,
                supersedes=args.supersedes,
                pinned=args.pinned,
                source="agent",
            )
        except (LookupError, ValueError) as e:
            raise InvalidSyscall(f"memory.remember: {e}") from e
        self.indexer.poke()
        return item.model_dump(mode="json"), {"id": item.id, "supersedes": item.supersedes}

    async def _recall(self, scope: MemoryScope, args: RecallArgs) -> tuple[Any, dict[str, Any]]:
        agents = [scope.agent, *(a for a in args.agents if a != scope.agent)]
        for agent in agents[1:]:
            _require(scope, memory_read_capability(agent))
        hits = await self.recall(
            RecallQuery(
                scopes=[scope_token(scope.user, a) for a in agents],
                text=args.query,
                k=args.k,
                tiers=args.tiers,
                kinds=args.kinds,
            )
        )
        return [h.model_dump(mode="json") for h in hits], {"hits": [h.item.id for h in hits]}

    async def recall(self, query: RecallQuery) -> list[MemoryHit]:
        """Hybrid recall that sees every write acknowledged before it, and counts visits for heat."""
        ticket = self.indexer.ticket
        if not self.indexer.reached(ticket):
            await asyncio.to_thread(self.indexer.wait_for, ticket, READ_YOUR_WRITES_S)
        hits = await self.retriever.recall(query)
        if hits:
            if not self._visits:
                self._flusher = asyncio.create_task(self._flush_visits(after_s=VISIT_FLUSH_S))
            self._visits.update(h.item.id for h in hits)
            self._visits.update({h.item.segment_id for h in hits if h.item.segment_id})
        return hits

    async def _flush_visits(self, after_s: float = 0.0) -> None:
        """Count visits (heat) in one write per second instead of one per recall."""
        await asyncio.sleep(after_s)
        visits, self._visits = self._visits, Counter()
        if visits:
            await asyncio.to_thread(self.store.touch, visits, time.time())
            if self.pager_pid is not None:
                self.pager.wake.set()

    async def _owned(self, scope: MemoryScope, item_id: int, *, write: bool) -> MemoryItem:
        item = await asyncio.to_thread(self.store.get, item_id)
        if item is None:
            raise InvalidSyscall(f"no memory item {item_id}")
        own = item.user == scope.user and item.agent == scope.agent
        readable = item.user == scope.user and grants(scope.capabilities, memory_read_capability(item.agent))
        if not own and (write or not readable):
            raise PermissionDenied(
                f"memory item {item_id} belongs to another {'user' if item.user != scope.user else 'agent'}"
            )
        return item

    async def _get(self, scope: MemoryScope, args: ItemArgs) -> tuple[Any, dict[str, Any]]:
        item = await self._owned(scope, args.id, write=False)
        return item.model_dump(mode="json"), {"id": item.id}

    async def _forget(self, scope: MemoryScope, args: ForgetArgs) -> tuple[Any, dict[str, Any]]:
        await self._owned(scope, args.id, write=True)
        item = await asyncio.to_thread(self.store.forget, args.id, purge=args.purge)
        self.indexer.poke()
        return item.model_dump(mode="json"), {"id": item.id, "purged": args.purge}

    async def _pin(
        self, scope: MemoryScope, args: ItemArgs, pinned: bool = True
    ) -> tuple[Any, dict[str, Any]]:
        item = await self._owned(scope, args.id, write=True)
        if item.state != "active":
            raise InvalidSyscall(f"memory item {item.id} is {item.state}; only active items can be pinned")
        item = await asyncio.to_thread(self.store.set_pinned, args.id, pinned)
        return item.model_dump(mode="json"), {"id": item.id, "pinned": pinned}

    async def _unpin(self, scope: MemoryScope, args: ItemArgs) -> tuple[Any, dict[str, Any]]:
        return await self._pin(scope, args, pinned=False)

    async def _observe(self, scope: MemoryScope, args: ObserveArgs) -> tuple[Any, dict[str, Any]]:
        messages = [Message(role=m.role, content=m.content) for m in args.messages]
        page, paged_out = await self.add_page(scope, messages)
        return page.model_dump(mode="json"), {"id": page.id, "paged_out": paged_out}

    # ---- paging ----------------------------------------------------------------------------------

    async def add_page(self, scope: MemoryScope, messages: list[Message]) -> tuple[MemoryItem, list[int]]:
        """Store one exchange as a short-term page; page out the oldest pages over budget."""
        page = await asyncio.to_thread(
            self.store.add,
            user=scope.user,
            agent=scope.agent,
            session=scope.session,
            tier="short",
            kind="page",
            text=context.page_text(messages),
            source="dialogue",
            meta={"messages": [{"role": m.role, "content": context.message_text(m)} for m in messages]},
        )
        paged_out = await asyncio.to_thread(self._page_out, scope)
        self.indexer.poke()
        if paged_out:
            await self._wake_pager()
        return page, paged_out

    def _short_term(self, scope: MemoryScope) -> list[MemoryRow]:
        return self.store.list_rows(
            user=scope.user,
            agent=scope.agent,
            session=scope.session,
            tiers=["short"],
            kinds=["page"],
            limit=None,
        )

    def _page_out(self, scope: MemoryScope) -> list[int]:
        pages = self._short_term(scope)
        kept = context.recent_pages(pages, self.settings.short_term_tokens)[-self.settings.short_term_pages :]
        kept_ids = {p.id for p in kept}
        out = [p.id for p in pages if p.id not in kept_ids]
        self.store.update_where(out, tier="mid", pending="segment")
        return out

    async def assemble(self, scope: MemoryScope, request: LLMSyscall, context_tokens: int) -> LLMSyscall:
        _require(scope, MEMORY_OWN)
        room = max(0, context_tokens - request.max_tokens - 64)
        own = sum(context.message_tokens(m) + 4 for m in request.messages)
        short_budget = min(self.settings.short_term_tokens, max(0, room - own - self.settings.memory_tokens))
        memory_budget = min(self.settings.memory_tokens, max(0, room - own))
        pages = await asyncio.to_thread(self._short_term, scope)
        recent = context.recent_pages(pages, short_budget) if short_budget else []
        query = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        block = ""
        if memory_budget and query.strip():
            pinned = await asyncio.to_thread(
                self.store.list_rows, user=scope.user, agent=scope.agent, pinned=True, limit=20
            )
            hits = await self.recall(
                RecallQuery(
                    scopes=[scope_token(scope.user, scope.agent)],
                    text=query,
                    k=self.settings.recall_k,
                    exclude=frozenset(p.id for p in [*pinned, *recent]),
                )
            )
            relevant = [
                h.item.id
                for h in hits
                if h.keyword_rank is not None or (h.similarity or -1.0) >= self.settings.min_similarity
            ]
            id_to_row = {r.id: r for r in await asyncio.to_thread(self.store.rows, relevant)}
            chosen = [*pinned, *(id_to_row[i] for i in relevant if i in id_to_row)]
            block = context.memory_block(chosen, memory_budget)
        history = [m for page in recent for m in context.page_messages(page)]
        return request.model_copy(
            update={"messages": tuple(context.assemble(request.messages, block, history))}
        )

    async def observe(self, scope: MemoryScope, request: LLMSyscall, result: LLMResult) -> None:
        turn = [m for m in request.messages if m.role != "system"]
        answer = result.content or "; ".join(f"called {c.name}({c.arguments})" for c in result.tool_calls)
        await self.add_page(scope, [*turn, Message(role="assistant", content=answer)])


def _require(scope: MemoryScope, capability: str) -> None:
    if not grants(scope.capabilities, capability):
        raise PermissionDenied(f"capability {capability!r} not granted", pid=scope.pid)


Handler = Callable[[MemoryManager, MemoryScope, Any], Any]

_OPS: dict[str, tuple[Handler, type[BaseModel]]] = {
    "remember": (MemoryManager._remember, RememberArgs),
    "recall": (MemoryManager._recall, RecallArgs),
    "get": (MemoryManager._get, ItemArgs),
    "forget": (MemoryManager._forget, ForgetArgs),
    "pin": (MemoryManager._pin, ItemArgs),
    "unpin": (MemoryManager._unpin, ItemArgs),
    "observe": (MemoryManager._observe, ObserveArgs),
}
