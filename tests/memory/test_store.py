"""The SQL source of truth: history-keeping updates and keyword search, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from aios.memory.keyword_search import query_terms
from aios.memory.schema import scope_token
from aios.memory.store import MemoryStore


def _scope() -> str:
    return scope_token("u", "a")


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("Where does the user's dog, Rex, live? Rex!") == ["user", "dog", "rex", "live"]


def test_a_fact_with_the_same_key_supersedes_and_keeps_history(database_url: str) -> None:
    store = MemoryStore(database_url)
    try:
        first = store.add(
            user="u", agent="a", tier="long", kind="fact", text="Ana lives in Lisbon", key="ana.city"
        )
        other_agent = store.add(
            user="u", agent="b", tier="long", kind="fact", text="Ana lives in Faro", key="ana.city"
        )
        second = store.add(
            user="u", agent="a", tier="long", kind="fact", text="Ana moved to Porto", key="ana.city"
        )
        assert second.supersedes == first.id
        old = store.get(first.id)
        assert old is not None and old.state == "superseded" and old.superseded_by == second.id
        assert old.text == "Ana lives in Lisbon"
        # another agent's fact with the same key is its own history
        assert store.get(other_agent.id).state == "active"  # type: ignore[union-attr]
        active = store.list_items(user="u", agent="a")
        assert [i.id for i in active] == [second.id]
        everything = store.list_items(user="u", agent="a", states=None)
        assert {i.id for i in everything} == {first.id, second.id}
        with pytest.raises(ValueError, match="superseded"):
            store.add(user="u", agent="a", tier="long", kind="fact", text="x", supersedes=first.id)
        with pytest.raises(LookupError):
            store.add(user="u", agent="a", tier="long", kind="fact", text="x", supersedes=other_agent.id)
    finally:
        store.close()


def test_a_fact_superseded_while_the_indexer_embeds_it_is_taken_out_of_the_index(database_url: str) -> None:
    """The interleaving CI hit under load: the indexer reads a row, a write supersedes it (its timestamp
    taken before the indexer's), then the indexer marks what it read as indexed."""
    store = MemoryStore(database_url)
    try:
        old = store.add(user="u", agent="a", tier="long", kind="fact", text="PIN is 4321", key="pin")
        [read] = store.rows([old.id])
        new = store.add(user="u", agent="a", tier="long", kind="fact", text="PIN is 9876", key="pin")
        store.mark_indexed({read.id: read.updated_at}, time.time())
        assert store.unindexed() == [old.id, new.id]  # the next pass sees it superseded and drops it
        [current] = store.rows([new.id])
        store.mark_indexed({current.id: current.updated_at}, time.time())
        assert store.unindexed() == [old.id]
    finally:
        store.close()


def test_keyword_search_ranks_within_scopes_and_skips_inactive(database_url: str) -> None:
    store = MemoryStore(database_url)
    try:
        add = store.add
        hiking = add(
            user="u", agent="a", tier="long", kind="fact", text="Mia goes hiking in the Alps every July"
        )
        add(user="u", agent="a", tier="long", kind="fact", text="Mia's brother is called Theo")
        gone = add(user="u", agent="a", tier="long", kind="fact", text="Mia hated hiking as a child")
        elsewhere = add(user="u", agent="b", tier="long", kind="fact", text="Hiking boots are on sale")
        store.update(gone.id, state="forgotten")
        own = [scope_token("u", "a")]
        assert store.keyword_search(own, "who went hiking?", 5) == [hiking.id]
        # stemming: "hikes" matches "hiking"
        assert store.keyword_search(own, "hikes", 5) == [hiking.id]
        both = store.keyword_search([*own, scope_token("u", "b")], "hiking", 5)
        assert set(both) == {hiking.id, elsewhere.id}
        assert store.keyword_search(own, "the of and", 5) == []
    finally:
        store.close()


def test_export_and_bulk_import_round_trip(tmp_path: Path) -> None:
    source = MemoryStore(f"sqlite:///{tmp_path / 'a.db'}")
    target = MemoryStore(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        first = source.add(user="u", agent="a", tier="long", kind="fact", text="one", key="k", tags=["t"])
        source.add(user="u", agent="a", tier="long", kind="fact", text="two", key="k")
        lines = [json.dumps(row) for row in source.export()]
        assert len(lines) == 2 and json.loads(lines[0])["tags"] == ["t"]
        target.add(user="u", agent="a", tier="long", kind="note", text="already here")
        old_to_new = target.import_items(json.loads(line) for line in lines)
        assert sorted(old_to_new) == [first.id, first.id + 1]
        imported = [target.get(new) for new in old_to_new.values()]
        assert [(i.text, i.state, i.key) for i in imported] == [
            ("one", "superseded", "k"),
            ("two", "active", "k"),
        ]
        # the history link points at the imported row, not at the id it had in the source
        assert imported[0].superseded_by == imported[1].id and imported[1].supersedes == imported[0].id
        assert target.keyword_search([_scope()], "two", 3) == [imported[1].id]
    finally:
        source.close()
        target.close()
