"""Paging out (short-term overflow) and paging in (prompt assembly), through the manager and the kernel."""

from __future__ import annotations

from aios.kernel.kernel import Kernel
from aios.kernel.memory_port import MemoryScope
from aios.kernel.syscalls import MemorySyscall, Message
from aios.memory.context import MEMORY_HEADER
from aios.memory.manager import MemoryManager
from aios.sdk import Context
from aios.transport import InProcessTransport

from ..fakes import FakeEngine

SCOPE = MemoryScope(pid=1, user="u", agent="a", session="s1", capabilities=("memory.own",))


def exchange(question: str, answer: str = "noted") -> list[Message]:
    return [Message(role="user", content=question), Message(role="assistant", content=answer)]


async def test_the_oldest_pages_are_paged_out_beyond_the_short_term_budget(manager: MemoryManager) -> None:
    ids = []
    for n in range(5):
        page, paged_out = await manager.add_page(SCOPE, exchange(f"message number {n}"))
        ids.append(page.id)
        assert paged_out == ([] if n < 3 else [ids[n - 3]])
    short = manager.store.list_items(user="u", agent="a", tiers=["short"])
    assert [p.id for p in short] == ids[2:]
    mid = manager.store.list_items(user="u", agent="a", tiers=["mid"], kinds=["page"])
    assert [p.id for p in mid] == ids[:2]
    # paged-out pages wait for the pager; other sessions are untouched
    assert [r.id for r in manager.store.pending("segment")] == ids[:2]
    other = SCOPE.model_copy(update={"session": "s2"})
    await manager.add_page(other, exchange("another session"))
    assert len(manager.store.list_items(user="u", agent="a", tiers=["short"])) == 4


async def test_a_page_over_the_token_budget_pushes_older_pages_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from .conftest import make_manager

    manager = make_manager(
        f"sqlite:///{tmp_path / 'm.db'}", tmp_path, short_term_pages=8, short_term_tokens=100
    )
    try:
        first, _ = await manager.add_page(SCOPE, exchange("short one"))
        _, paged_out = await manager.add_page(SCOPE, exchange("long " * 60))
        assert paged_out == [first.id]
    finally:
        await manager.close()


async def test_llm_with_memory_pages_facts_in_and_records_the_exchange(kernel: Kernel) -> None:
    engine = FakeEngine(answer="Sure.", max_running=4)
    kernel.engines.register("local", engine)

    async def program(pid: int) -> str:
        ctx = Context(InProcessTransport(kernel, pid))
        await ctx.memory.observe(
            [
                {"role": "user", "content": "My sister Ingrid lives in Trondheim."},
                {"role": "assistant", "content": "Nice!"},
            ]
        )
        pinned = await ctx.memory.remember("Always answer in English.", kind="note", pinned=True)
        for n in range(9):
            await ctx.llm(f"Filler chat number {n} about the weather.", memory=True)
        await ctx.llm(
            [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "Where does Ingrid live?"},
            ],
            memory=True,
        )
        return str(pinned.id)

    pid = await kernel.spawn(program, agent="a", task="t", capabilities=["llm", "memory.own"])
    record = await kernel.wait(pid)
    assert record.state.value == "done", record.error
    last = engine.requests[-1].messages
    system, turns = last[0], last[1:]
    assert system.role == "system" and system.content == "You are helpful."
    # the fact fell out of the short-term window and came back through retrieval; the pinned note always
    # does; both come just before the question, after the dialogue (whose KV cache stays reusable)
    question = turns[-1]
    assert question.role == "user" and question.content.startswith(MEMORY_HEADER)
    assert question.content.endswith("\n\nWhere does Ingrid live?")
    assert "Trondheim" in question.content and "Always answer in English." in question.content
    assert all("Trondheim" not in m.content for m in turns[:-1])
    # the recent dialogue is there as real turns, oldest first
    user_turns = [m.content for m in turns if m.role == "user"]
    assert user_turns[-2] == "Filler chat number 8 about the weather."
    assert len(user_turns) <= kernel.memory.settings.short_term_pages + 1  # type: ignore[union-attr]
    # every exchange became a page: 1 observed + 10 through llm(memory=True)
    pages = kernel.memory.store.list_items(user=record.owner, agent="a", kinds=["page"], limit=None)  # type: ignore[union-attr]
    assert len(pages) == 11 and pages[-1].text == "user: Where does Ingrid live?\nassistant: Sure."


async def test_memory_needs_its_capability(kernel: Kernel) -> None:
    kernel.engines.register("local", FakeEngine(answer="ok", max_running=4))

    async def program(pid: int) -> None:
        ctx = Context(InProcessTransport(kernel, pid))
        await ctx.llm("hello", memory=True)

    pid = await kernel.spawn(program, agent="a", task="t", capabilities=["llm"])
    record = await kernel.wait(pid)
    assert record.state.value == "failed" and "memory.own" in (record.error or "")


def test_the_memory_block_keeps_to_its_budget() -> None:
    import time

    from aios.memory.context import memory_block
    from aios.memory.schema import MemoryRow
    from aios.memory.store import estimate_tokens

    now = time.time()
    items = [
        MemoryRow(id=i, kind="fact", text=f"fact {i} " + "word " * 60, meta={}, created_at=now)
        for i in range(10)
    ]
    block = memory_block(items, 200)
    assert block.startswith(MEMORY_HEADER) and estimate_tokens(block) <= 200 + len(block.splitlines())
    assert "fact 0 " in block and "fact 9 " not in block and block.endswith("...")
    assert memory_block(items, 10) == ""


async def test_a_purged_memory_leaves_only_a_tombstone(manager: MemoryManager) -> None:
    from aios.memory.schema import scope_token

    scope = scope_token("u", "a")
    old = manager.store.add(user="u", agent="a", tier="long", kind="fact", text="PIN is 4321", key="pin")
    new = manager.store.add(user="u", agent="a", tier="long", kind="fact", text="PIN is 9876", key="pin")
    manager.indexer.poke()
    await manager.settle(60)
    assert manager.index().count(scope) == 1  # only the active fact is in the vector index
    result = await manager.call(
        SCOPE.model_copy(update={"session": "s"}),
        MemorySyscall(op="forget", arguments={"id": new.id, "purge": True}),
    )
    assert result.detail == {"id": new.id, "purged": True}
    await manager.settle(60)
    tombstone = manager.store.get(new.id)
    assert tombstone is not None and tombstone.text == "" and tombstone.state == "forgotten"
    assert tombstone.supersedes == old.id  # history still resolves
    assert manager.store.keyword_search([scope], "PIN 9876", 5) == []
    assert manager.index().count(scope) == 0
    assert "9876" not in str(manager.store.rows([new.id])[0].meta)
