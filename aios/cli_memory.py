"""`aios memory ...`: look into, search, edit, move and rebuild the memory store without a running kernel."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from aios.cli_common import _settings, console, progress
from aios.kernel.errors import InvalidSyscall
from aios.kernel.memory_port import MemoryItem

if TYPE_CHECKING:  # the memory manager (SQLAlchemy, numpy, Chroma) loads only when a command runs
    from aios.config import Settings
    from aios.memory.manager import MemoryManager

memory_app = typer.Typer(
    help="The memory store: list, search, forget, export, import, reindex.", no_args_is_help=True
)

UserOption = Annotated[str | None, typer.Option("--user", "-u", help="Whose memory (default: config owner).")]
AgentOption = Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent's memory.")]


def _manager() -> tuple[Settings, MemoryManager]:
    from aios.boot import open_memory

    settings = _settings()
    return settings, open_memory(settings)


def _close(manager: MemoryManager) -> None:
    asyncio.run(manager.close())


def _item_row(item: MemoryItem) -> list[str]:
    flags = ("📌 " if item.pinned else "") + ("" if item.state == "active" else f"[dim]{item.state}[/] ")
    return [
        str(item.id),
        item.agent,
        item.tier,
        item.kind,
        flags.strip() or "-",
        f"{item.heat:.1f}" if item.kind == "segment" else "-",
        item.key or "-",
        escape(" ".join(item.text.split())[:70]),
    ]


def _items_table(items: list[MemoryItem]) -> Table:
    table = Table("id", "agent", "tier", "kind", "flags", "heat", "key", "text")
    for item in items:
        table.add_row(*_item_row(item))
    return table


@memory_app.command("ls")
def ls(
    user: UserOption = None,
    agent: AgentOption = None,
    tier: Annotated[str | None, typer.Option(help="short, mid, long or archive.")] = None,
    kind: Annotated[str | None, typer.Option(help="page, segment, fact, profile, knowledge or note.")] = None,
    history: Annotated[bool, typer.Option("--all", help="Include superseded and forgotten items.")] = False,
    limit: Annotated[int, typer.Option(help="Most rows to show (newest first).")] = 50,
) -> None:
    """List memories, newest first."""
    settings, manager = _manager()
    try:
        items = manager.store.list_items(
            user=user or settings.owner,
            agent=agent,
            tiers=[tier] if tier else None,
            kinds=[kind] if kind else None,
            states=None if history else ("active",),
            order="newest",
            limit=limit,
        )
    finally:
        _close(manager)
    console.print(_items_table(items))
    if not items:
        console.print(f"[dim]no memories for user {user or settings.owner}[/]")


@memory_app.command("show")
def show(item_id: Annotated[int, typer.Argument(help="Memory id.")]) -> None:
    """One memory in full, with the history of the fact it belongs to."""
    _, manager = _manager()
    try:
        item = manager.store.get(item_id)
        if item is None:
            raise InvalidSyscall(f"no memory item {item_id}")
        chain = [item]
        while chain[0].supersedes is not None and (older := manager.store.get(chain[0].supersedes)):
            chain.insert(0, older)
        while chain[-1].superseded_by is not None and (newer := manager.store.get(chain[-1].superseded_by)):
            chain.append(newer)
        meta = manager.store.rows([item_id])[0].meta
    finally:
        _close(manager)
    shown = item.model_dump(mode="json")
    shown["meta"] = {k: v for k, v in meta.items() if k != "centroid"}
    console.print_json(json.dumps(shown))
    if len(chain) > 1:
        console.print("[bold]history[/] (oldest first):")
        console.print(_items_table(chain))


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: UserOption = None,
    agent: AgentOption = None,
    k: Annotated[int, typer.Option(help="Results.")] = 10,
) -> None:
    """Hybrid search (vectors and keywords, fused by rank), as agents recall."""
    from aios.memory.retrieval import RecallQuery
    from aios.memory.schema import scope_token

    settings, manager = _manager()
    owner = user or settings.owner

    async def go() -> list[Any]:
        try:
            agents = [agent] if agent else manager.store.agents(owner)
            return await manager.recall(
                RecallQuery(scopes=[scope_token(owner, a) for a in agents], text=query, k=k)
            )
        finally:
            await manager.close()

    hits = asyncio.run(go())
    table = Table("score", "vector", "keyword", "id", "agent", "tier", "kind", "text")
    for hit in hits:
        item = hit.item
        table.add_row(
            f"{hit.score:.4f}",
            str(hit.vector_rank or "-"),
            str(hit.keyword_rank or "-"),
            str(item.id),
            item.agent,
            item.tier,
            item.kind,
            escape(" ".join(item.text.split())[:80]),
        )
    console.print(table)


@memory_app.command("forget")
def forget(
    item_ids: Annotated[list[int], typer.Argument(help="Memory ids.")],
    purge: Annotated[bool, typer.Option(help="Erase the text too (a tombstone row remains).")] = False,
) -> None:
    """Mark memories forgotten: never recalled again; the row stays as history unless purged."""
    _, manager = _manager()
    try:
        for item_id in item_ids:
            if manager.store.get(item_id) is None:
                raise InvalidSyscall(f"no memory item {item_id}")
            manager.store.forget(item_id, purge=purge)
            console.print(f"{'purged' if purge else 'forgot'} {item_id}")
        manager.indexer.poke()
    finally:
        _close(manager)


@memory_app.command("export")
def export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSON Lines file (default: stdout).")
    ] = None,
    user: UserOption = None,
    agent: AgentOption = None,
    every_user: Annotated[bool, typer.Option("--every-user", help="Export all users' memory.")] = False,
) -> None:
    """Every memory, history included, one JSON object per line."""
    settings, manager = _manager()
    stream = out.open("w") if out else sys.stdout
    count = 0
    try:
        for row in manager.store.export(user=None if every_user else user or settings.owner, agent=agent):
            stream.write(json.dumps(row) + "\n")
            count += 1
    finally:
        if out:
            stream.close()
        _close(manager)
    if out:
        console.print(f"exported {count} memories to {out}")


@memory_app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="JSON Lines from `aios memory export`.")]) -> None:
    """Add exported memories (new ids, links kept) and index them."""
    rows = []
    for number, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            MemoryItem.model_validate(row)
        except ValueError as e:
            raise InvalidSyscall(f"{file}:{number}: not an exported memory: {str(e)[:200]}") from e
        rows.append(row)
    _, manager = _manager()
    try:
        mapping = manager.store.import_items(rows)
        _index_with_progress(manager)
    finally:
        _close(manager)
    console.print(f"imported {len(mapping)} memories from {file}")


@memory_app.command("reindex")
def reindex() -> None:
    """Rebuild the vector index from SQL (the source of truth)."""
    _, manager = _manager()
    try:
        manager.index().drop_all()
        total = manager.store.clear_indexed()
        _index_with_progress(manager, total)
    finally:
        _close(manager)
    console.print(f"reindexed {total} memories")


def _index_with_progress(manager: MemoryManager, total: int | None = None) -> None:
    count = total or manager.store.count_unindexed()
    with progress(f"embedding 0/{count} (the embedding model loads first)") as say:
        ticket = manager.indexer.poke()
        while not manager.indexer.wait_for(ticket, 0.5):
            say(f"embedding {count - manager.store.count_unindexed()}/{count}")
    if manager.indexer.error:
        raise InvalidSyscall(f"indexing failed: {manager.indexer.error}")


@memory_app.command("stats")
def stats(user: UserOption = None) -> None:
    """Items and tokens per agent, tier and state; the pager's backlog."""
    settings, manager = _manager()
    try:
        rows = manager.store.stats(user=user or settings.owner)
        backlog = {work: len(manager.store.pending(work, 10_000)) for work in ("segment", "summary")}
    finally:
        _close(manager)
    table = Table("agent", "tier", "state", "items", "tokens", "not yet indexed")
    for r in sorted(rows, key=lambda r: (r["agent"], r["tier"], r["state"])):
        table.add_row(
            r["agent"], r["tier"], r["state"], str(r["items"]), str(r["tokens"]), str(r["unindexed"])
        )
    console.print(table)
    console.print(
        f"pager backlog: {backlog['segment']} pages to segment, {backlog['summary']} segments to summarise"
    )
