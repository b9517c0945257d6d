"""The paging daemon: topic segments, tolerant summaries, heat, promotion and archiving."""

from __future__ import annotations

import time

import pytest

from aios.kernel.memory_port import MemoryScope
from aios.kernel.syscalls import Message
from aios.memory.config import HeatWeights
from aios.memory.heat import heat
from aios.memory.manager import MemoryManager

from ..fakes import until
from .helpers import ScriptedLLM

SCOPE = MemoryScope(pid=1, user="u", agent="a", session="s", capabilities=("memory.own",))

GARDEN = [
    "I planted tomatoes and basil in my garden this spring.",
    "My garden tomatoes need more water and the basil is growing well.",
]
CAR = ["My car broke down on the highway and the mechanic replaced the gearbox."]


async def page_out(manager: MemoryManager, texts: list[str]) -> list[int]:
    ids = []
    for text in texts:
        page, _ = await manager.add_page(
            SCOPE, [Message(role="user", content=text), Message(role="assistant", content="I see.")]
        )
        ids.append(page.id)
    manager.store.update_where(ids, tier="mid", pending="segment")
    return ids


def good_summary(text: str) -> dict[str, object]:
    return {"summary": text, "keywords": ["topic"]}


def test_heat_grows_with_visits_and_pages_and_decays_with_idle_time() -> None:
    weights = HeatWeights(recency_tau_s=100.0)
    base = heat(visits=1, pages=1, idle_s=0, weights=weights)
    assert base == pytest.approx(3.0)
    assert heat(visits=2, pages=1, idle_s=0, weights=weights) > base
    assert heat(visits=1, pages=2, idle_s=0, weights=weights) > base
    assert heat(visits=1, pages=1, idle_s=100, weights=weights) == pytest.approx(2.0 + 2.718281828**-1)


async def test_pages_on_one_topic_share_a_segment_and_get_a_summary(manager: MemoryManager) -> None:
    garden_ids = await page_out(manager, GARDEN)
    car_ids = await page_out(manager, CAR)
    llm = ScriptedLLM(
        {"tomatoes": good_summary("Gardening: tomatoes and basil."), "gearbox": good_summary("Car trouble.")}
    )
    report = await manager.pager.run_once(llm)
    assert report.segmented == 3 and report.new_segments == 2 and report.summarised == 2
    pages = manager.store.get_many([*garden_ids, *car_ids])
    garden_segment = {pages[i].segment_id for i in garden_ids}
    car_segment = {pages[i].segment_id for i in car_ids}
    assert len(garden_segment) == 1 and len(car_segment) == 1 and garden_segment != car_segment
    segment = manager.store.get(garden_segment.pop())
    assert segment is not None and segment.tier == "mid" and segment.kind == "segment"
    assert segment.text.startswith("Gardening: tomatoes and basil.")
    assert manager.store.pending("segment") == [] and manager.store.pending("summary") == []
    # the summary request carried the pages' text, and asked for JSON through a schema
    assert all(r.response_schema for r in llm.requests) and len(llm.requests) == 2


async def test_bad_json_is_retried_and_then_the_raw_text_is_kept(manager: MemoryManager) -> None:
    ids = await page_out(manager, CAR)
    llm = ScriptedLLM(['{"summary": "The car', "not json at all", '{"keywords": []}'])
    report = await manager.pager.run_once(llm)
    assert report.llm_calls == 3 and report.bad_outputs == 3 and report.summary_fallbacks == 1
    page = manager.store.get(ids[0])
    assert page is not None and page.state == "active" and "gearbox" in page.text
    segment = manager.store.get(page.segment_id)  # type: ignore[arg-type]
    assert segment is not None and "gearbox" in segment.text
    assert manager.store.rows([segment.id])[0].meta["summary_fallback"] is True
    assert manager.store.pending("summary") == []


async def test_a_hot_segment_is_promoted_to_long_term_facts(manager: MemoryManager) -> None:
    await page_out(manager, GARDEN)
    await manager.pager.run_once(ScriptedLLM([good_summary("The user grows tomatoes in Leeds.")]))
    segment = manager.store.list_items(user="u", agent="a", kinds=["segment"])[0]
    manager.store.touch({segment.id: 3}, time.time())
    facts = {
        "facts": [
            {"about": "user", "key": "Home City", "fact": "The user lives in Leeds."},
            {"about": "other", "key": "crop", "fact": "Tomatoes grow in the user's garden."},
        ]
    }
    report = await manager.pager.run_once(ScriptedLLM([facts]))
    assert report.promoted_facts == 2
    long_term = manager.store.list_items(user="u", agent="a", tiers=["long"])
    assert {(f.kind, f.key, f.source) for f in long_term} == {
        ("profile", "user.home_city", "promotion"),
        ("knowledge", "other.crop", "promotion"),
    }
    # visits start over after a promotion, so the same segment is not promoted again at once
    assert manager.store.get(segment.id).visits == 0  # type: ignore[union-attr]
    assert (await manager.pager.run_once(ScriptedLLM([]))).promoted_facts == 0
    # a later promotion of the same key supersedes the old fact instead of duplicating it
    manager.store.touch({segment.id: 3}, time.time())
    moved = {"facts": [{"about": "user", "key": "home_city", "fact": "The user moved to York."}]}
    await manager.pager.run_once(ScriptedLLM([moved]))
    profile = manager.store.list_items(user="u", agent="a", kinds=["profile"], states=None)
    assert [(p.text, p.state) for p in profile] == [
        ("The user lives in Leeds.", "superseded"),
        ("The user moved to York.", "active"),
    ]


async def test_a_promotion_with_bad_json_keeps_the_summary_as_knowledge(manager: MemoryManager) -> None:
    await page_out(manager, CAR)
    await manager.pager.run_once(ScriptedLLM([good_summary("The gearbox was replaced.")]))
    segment = manager.store.list_items(user="u", agent="a", kinds=["segment"])[0]
    manager.store.touch({segment.id: 4}, time.time())
    report = await manager.pager.run_once(ScriptedLLM(["{", "{", "{"]))
    assert report.promotion_fallbacks == 1
    [knowledge] = manager.store.list_items(user="u", agent="a", tiers=["long"])
    assert knowledge.kind == "knowledge" and knowledge.text.startswith("The gearbox was replaced.")


async def test_the_coldest_segments_are_archived_and_pinned_ones_never(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .conftest import make_manager

    manager = make_manager(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, promote_heat=1000)
    try:
        topics = [
            "We talked about quantum physics and entangled photons.",
            "My grandmother bakes sourdough bread every Sunday.",
            "The football match ended with a penalty shootout.",
        ]
        for topic in topics:
            await page_out(manager, [topic])
        summaries = {t.split()[-1]: good_summary(t) for t in topics}
        await manager.pager.run_once(ScriptedLLM(summaries))
        segments = manager.store.list_items(user="u", agent="a", kinds=["segment"])
        assert len(segments) == 3
        physics, bread, football = segments
        manager.settings.mid_term_segments = 1
        manager.store.set_pinned(physics.id, True)
        manager.store.touch({football.id: 3}, time.time())
        report = await manager.pager.run_once(ScriptedLLM([]))
        # bread is the coldest unpinned segment; physics is pinned; football is hot
        assert report.archived_segments == 1
        tiers = {s.id: s.tier for s in manager.store.list_items(user="u", agent="a", kinds=["segment"])}
        assert tiers == {physics.id: "mid", bread.id: "archive", football.id: "mid"}
        [bread_page] = manager.store.list_items(user="u", agent="a", kinds=["page"], segment_id=bread.id)
        assert bread_page.tier == "archive" and bread_page.state == "active"
        # archived memories leave the vector index but keyword search still finds them
        await manager.settle(60)
        assert manager.index().count(manager.store.rows([bread.id])[0].scope) == 4
        assert bread_page.id in manager.store.keyword_search(
            [manager.store.rows([bread.id])[0].scope], "sourdough", 5
        )
    finally:
        await manager.close()


async def test_recalls_count_visits_toward_heat(manager: MemoryManager) -> None:
    from aios.memory.retrieval import RecallQuery
    from aios.memory.schema import scope_token

    item = manager.store.add(
        user="u", agent="a", tier="long", kind="fact", text="The kayak is stored in the shed"
    )
    manager.indexer.poke()
    query = RecallQuery(scopes=[scope_token("u", "a")], text="where is the kayak?", k=3)
    for _ in range(2):
        assert [h.item.id for h in await manager.recall(query)] == [item.id]
    # visits are written once a second, in one batch
    await until(lambda: manager.store.get(item.id).visits == 2, "the visits to be written")  # type: ignore[union-attr]
