"""Recall returns what it returned before it was made fast, and its query-vector cache never hides a write."""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from aios.memory.embedder import load_embedder
from aios.memory.manager import MemoryManager
from aios.memory.retrieval import RecallQuery
from aios.memory.schema import scope_token

from .conftest import make_manager

USERS = ("ann", "bob")
AGENTS = ("alpha", "beta")
NAMES = ("Ana", "Bruno", "Chen", "Dara", "Elif", "Farid", "Greta", "Hiro")
RELATIONS = ("sister", "cousin", "neighbour", "manager", "dentist")
ACTIVITIES = (
    "plays chess",
    "grows tomatoes",
    "teaches violin",
    "repairs bicycles",
    "keeps bees",
    "brews cider",
)
PLACES = ("Lisbon", "Oslo", "Nairobi", "Osaka", "Quito", "Porto")
FORGOTTEN = (3, 10)

# (user, agents, text, k, tiers, kinds, excluded ids)
Query = tuple[str, tuple[str, ...], str, int, tuple[str, ...] | None, tuple[str, ...] | None, tuple[int, ...]]
QUERIES: list[Query] = [
    ("ann", ("alpha",), "Where does Chen's sister play chess?", 5, None, None, ()),
    ("ann", ("alpha", "beta"), "bees in Oslo", 8, None, None, ()),
    ("bob", ("beta",), "who repairs bicycles in Porto", 6, None, ("fact",), ()),
    ("bob", ("alpha", "beta"), "violin teacher", 4, ("mid",), None, ()),
    ("ann", ("beta",), "cider", 5, None, None, (4, 12)),
    ("bob", ("alpha",), "Greta manager Nairobi tomatoes", 10, None, None, ()),
]

# per query: (id, vector rank, keyword rank) of each hit, as recall returned them before it was made fast
EXPECTED: list[list[tuple[int, int | None, int | None]]] = [
    [(69, 1, 2), (61, 3, 1), (89, 2, 4), (81, 5, 3), (41, 4, 7)],
    [(21, 4, 2), (15, 6, 1), (39, 5, 4), (73, 3, 7), (109, 2, 9), (37, 8, 3), (135, 1, 12), (59, 7, 6)],
    [(40, 1, 2), (20, 4, 3), (44, 3, 5), (28, 5, 4), (140, 6, 8), (48, 8, 6)],
    [(92, 2, 8), (120, 9, 10), (50, 16, None), (64, 19, None)],
    [(75, 1, 4), (55, 4, 2), (71, 3, 3), (103, 2, 6), (11, 8, 1)],
    [
        (2, 1, 1),
        (110, 3, 3),
        (18, 6, 2),
        (134, 5, 4),
        (54, 2, 11),
        (58, 9, 6),
        (114, 8, 7),
        (78, 4, 12),
        (38, 12, 5),
        (34, 7, 10),
    ],
]


def corpus() -> list[dict[str, str]]:
    """160 facts and pages, spread over two users and two agents each."""
    rng = random.Random(21)
    rows = []
    for n in range(160):
        text = (
            f"{rng.choice(NAMES)}'s {rng.choice(RELATIONS)} {rng.choice(ACTIVITIES)} "
            f"in {rng.choice(PLACES)} (note {n})."
        )
        tier, kind = ("mid", "page") if n % 7 == 0 else ("long", "fact")
        rows.append(
            {"user": USERS[n % 2], "agent": AGENTS[(n // 2) % 2], "tier": tier, "kind": kind, "text": text}
        )
    return rows


async def _filled(tmp_path: Path, rows: list[dict[str, str]]) -> MemoryManager:
    manager = make_manager(f"sqlite:///{tmp_path / 'memory.db'}", tmp_path)
    manager.store.add_many(rows)
    for item_id in FORGOTTEN:
        manager.store.forget(item_id)
    await manager.settle(120)
    return manager


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[MemoryManager]:
    """The whole corpus, as the expected hits were recorded on."""
    manager = await _filled(tmp_path, corpus())
    yield manager
    await manager.close()


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[MemoryManager]:
    """Its first twelve memories (ids 1-12), three for each user and agent."""
    manager = await _filled(tmp_path, corpus()[:12])
    yield manager
    await manager.close()


def _recall_query(query: Query) -> RecallQuery:
    user, agents, text, k, tiers, kinds, exclude = query
    return RecallQuery(
        scopes=[scope_token(user, a) for a in agents],
        text=text,
        k=k,
        tiers=tiers,
        kinds=kinds,
        exclude=frozenset(exclude),
    )


async def test_recall_returns_the_same_hits_in_the_same_order_as_before(filled: MemoryManager) -> None:
    for query, expected in zip(QUERIES, EXPECTED, strict=True):
        hits = await filled.recall(_recall_query(query))
        assert [(h.item.id, h.vector_rank, h.keyword_rank) for h in hits] == expected, query[2]
        user, agents = query[0], query[1]
        assert all(h.item.user == user and h.item.agent in agents for h in hits)
        assert all(h.item.state == "active" and h.item.id not in query[6] for h in hits)


async def test_rows_read_for_recall_equal_rows_read_one_by_one(small: MemoryManager) -> None:
    small.store.update(5, tags=["x", "y"], pinned=True)
    ids = [1, 3, 5, 7, 12, 10_000]
    many = small.store.get_many(ids)
    assert sorted(many) == [1, 3, 5, 7, 12]
    assert many == {i: small.store.get(i) for i in many}
    assert many[5].tags == ["x", "y"] and many[5].pinned is True and many[3].state == "forgotten"


async def test_a_cached_query_sees_writes_and_forgets_after_it(small: MemoryManager) -> None:
    query = RecallQuery(scopes=[scope_token("ann", "alpha")], text="Who keeps the lighthouse in Tromsø?", k=3)
    before = [h.item.id for h in await small.recall(query)]
    new = small.store.add(
        user="ann", agent="alpha", tier="long", kind="fact", text="Ingrid keeps the lighthouse in Tromsø"
    )
    small.indexer.poke()
    after = await small.recall(query)
    assert after[0].item.id == new.id and after[0].vector_rank == 1 and after[0].keyword_rank == 1
    other_user = await small.recall(RecallQuery(scopes=[scope_token("bob", "alpha")], text=query.text, k=3))
    assert other_user and all(h.item.user == "bob" for h in other_user)
    small.store.forget(new.id)
    small.indexer.poke()
    assert [h.item.id for h in await small.recall(query)] == before


def test_the_model_is_loaded_once_per_process() -> None:
    """Every recall asks for the embedder: a second load would cost a model load per recall (and a thread
    each), and its cache of query vectors would never answer."""
    assert load_embedder() is load_embedder()


def test_a_repeated_query_is_answered_without_the_model() -> None:
    embedder = load_embedder()
    text = "Which neighbour repairs bicycles in Quito?"
    first = embedder.submit_query(text).result()
    assert np.array_equal(first, embedder.encode([text])[0])
    gate = threading.Event()
    busy = embedder.submit([text] * 8)
    embedder._thread.submit(gate.wait)
    try:
        again = embedder.submit_query(text)
        assert again.done() and np.array_equal(again.result(), first)
        fresh = embedder.submit_query(text + " Or in Lisbon?")
        assert not fresh.done()
    finally:
        gate.set()
    assert busy.result().shape == (8, embedder.dimension)
    assert np.array_equal(fresh.result(), embedder.encode([text + " Or in Lisbon?"])[0])
