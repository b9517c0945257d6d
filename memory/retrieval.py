"""Hybrid recall: vector neighbours from Chroma and keyword matches from SQL, fused by rank."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aios.kernel.memory_port import MemoryHit, MemoryItem
from aios.memory.embedder import Embedder
from aios.memory.store import MemoryStore
from aios.memory.vector_index import VectorIndex

logger = logging.getLogger(__name__)

RRF_K = 60
"""Reciprocal-rank-fusion constant (Cormack et al.): a document scores sum(1 / (RRF_K + rank))."""


@dataclass(frozen=True)
class RecallQuery:
    scopes: Sequence[str]
    text: str
    k: int
    tiers: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    exclude: frozenset[int] = frozenset()


def fuse(
    vector_ids: Sequence[int], keyword_ids: Sequence[int]
) -> list[tuple[int, float, int | None, int | None]]:
    """(id, score, vector rank, keyword rank), best first; ties keep the newer item first."""
    id_to_ranks: dict[int, list[int | None]] = {}
    for rank, item_id in enumerate(vector_ids, 1):
        id_to_ranks.setdefault(item_id, [None, None])[0] = rank
    for rank, item_id in enumerate(keyword_ids, 1):
        id_to_ranks.setdefault(item_id, [None, None])[1] = rank
    fused = [
        (item_id, sum(1.0 / (RRF_K + r) for r in ranks if r is not None), ranks[0], ranks[1])
        for item_id, ranks in id_to_ranks.items()
    ]
    fused.sort(key=lambda f: (-f[1], -f[0]))
    return fused


class Retriever:
    def __init__(
        self, store: MemoryStore, index: Callable[[], VectorIndex], embedder: Callable[[], Embedder]
    ) -> None:
        self.store = store
        self._index = index
        self._embedder = embedder

    async def recall(self, query: RecallQuery) -> list[MemoryHit]:
        """Top `k` active items (one worker thread: fewer hops than one per step, at ~10 ms each counts)."""
        return await asyncio.to_thread(self.recall_sync, query)

    def recall_sync(self, query: RecallQuery) -> list[MemoryHit]:
        """The keyword search, and the read of its best rows, run while the embedder thread encodes the
        query; rows the vector search adds are read after it."""
        n = max(query.k * 4, 20) + len(query.exclude)
        pending = self._embedder().submit_query(query.text)
        keyword_ids = self.store.keyword_search(query.scopes, query.text, n)
        id_to_item = self.store.get_many(keyword_ids[: query.k * 2])
        vector = pending.result()
        index = self._index()
        nearest: list[tuple[int, float]] = []
        for scope in query.scopes:
            nearest.extend(index.query(scope, vector, n))
        nearest.sort(key=lambda h: h[1])
        vector_ids = [item_id for item_id, _ in nearest[:n]]
        id_to_similarity = {item_id: 1.0 - distance for item_id, distance in nearest[:n]}
        fused = [f for f in fuse(vector_ids, keyword_ids) if f[0] not in query.exclude]
        hits: list[MemoryHit] = []
        position = 0
        while len(hits) < query.k and position < len(fused):
            window = fused[position : position + query.k * 2]
            position += len(window)
            id_to_item.update(self.store.get_many([f[0] for f in window if f[0] not in id_to_item]))
            for item_id, score, vector_rank, keyword_rank in window:
                item = id_to_item.get(item_id)
                if item is None or not _wanted(item, query):
                    continue
                hits.append(
                    MemoryHit(
                        item=item,
                        score=score,
                        vector_rank=vector_rank,
                        keyword_rank=keyword_rank,
                        similarity=id_to_similarity.get(item_id),
                    )
                )
                if len(hits) == query.k:
                    break
        return hits


def _wanted(item: MemoryItem, query: RecallQuery) -> bool:
    return (
        item.state == "active"
        and (not query.tiers or item.tier in query.tiers)
        and (not query.kinds or item.kind in query.kinds)
    )
