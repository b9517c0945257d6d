"""The SQL side of memory: durable writes, history-keeping updates, lookups, listing and export."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from aios.kernel.database import open_database
from aios.kernel.memory_port import MemoryItem
from aios.memory.keyword_search import KeywordSearch
from aios.memory.schema import MemoryRow, scope_token

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_SELECT_BY_IDS = select(MemoryRow.__table__).where(MemoryRow.id.in_(bindparam("ids", expanding=True)))


def estimate_tokens(text_: str) -> int:
    """A tokenizer-free upper estimate (about three characters per token) for budgets."""
    return len(text_) // 3 + 1


def to_item(row: MemoryRow) -> MemoryItem:
    return MemoryItem.model_validate(row)


class MemoryStore:
    """Every write commits before it returns, so an acknowledged memory survives a killed kernel."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_database(url, MIGRATIONS_DIR)
        self.dialect = self.engine.dialect.name
        self.keywords = KeywordSearch(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ---- writes ----------------------------------------------------------------------------------

    def add(self, **fields: Any) -> MemoryItem:
        """Insert an item; with `key` (or `supersedes`) the active item it replaces is marked superseded."""
        now = time.time()
        user, agent = fields["user"], fields["agent"]
        row = MemoryRow(
            scope=scope_token(user, agent),
            tags=fields.pop("tags", None) or [],
            meta=fields.pop("meta", None) or {},
            pinned=fields.pop("pinned", False),
            state="active",
            visits=0,
            heat=0.0,
            tokens=estimate_tokens(fields["text"]),
            source=fields.pop("source", "agent"),
            created_at=fields.pop("created_at", now),
            updated_at=now,
            accessed_at=now,
            **fields,
        )
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            replaced = self._replaced(session, row)
            session.add(row)
            session.flush()
            if replaced is not None:
                replaced.state = "superseded"
                replaced.superseded_by = row.id
                replaced.updated_at = now
                replaced.indexed_at = None
                row.supersedes = replaced.id
            return to_item(row)

    def _replaced(self, session: Session, row: MemoryRow) -> MemoryRow | None:
        if row.supersedes is not None:
            old = session.get(MemoryRow, row.supersedes, with_for_update=self.dialect != "sqlite")
            if old is None or old.user != row.user or old.agent != row.agent:
                raise LookupError(f"no memory item {row.supersedes} to supersede in this scope")
            if old.state != "active":
                raise ValueError(
                    f"memory item {old.id} is {old.state}; only an active item can be superseded"
                )
            return old
        if row.key is None:
            return None
        return session.scalars(
            select(MemoryRow).where(
                MemoryRow.user == row.user,
                MemoryRow.agent == row.agent,
                MemoryRow.key == row.key,
                MemoryRow.state == "active",
            )
        ).first()

    def add_many(self, items: Iterable[dict[str, Any]]) -> int:
        """Bulk insert (import, benchmarks): one transaction, no supersede logic; returns the count."""
        now = time.time()
        rows = []
        for fields in items:
            fields = {k: v for k, v in fields.items() if k != "id"}
            fields.setdefault("state", "active")
            fields.setdefault("created_at", now)
            fields.setdefault("updated_at", now)
            fields.setdefault("accessed_at", now)
            fields.setdefault("tokens", estimate_tokens(fields["text"]))
            fields.setdefault("tags", [])
            fields.setdefault("meta", {})
            fields.setdefault("pinned", False)
            fields.setdefault("visits", 0)
            fields.setdefault("heat", 0.0)
            fields.setdefault("source", "import")
            fields["scope"] = scope_token(fields["user"], fields["agent"])
            rows.append(fields)
        with self.engine.begin() as connection:
            for start in range(0, len(rows), 5000):
                connection.execute(MemoryRow.__table__.insert(), rows[start : start + 5000])
        return len(rows)

    def import_items(self, items: Iterable[dict[str, Any]]) -> dict[int, int]:
        """Insert exported items under new ids, keeping links (history, segments); returns old -> new id."""
        columns = {c.name for c in MemoryRow.__table__.columns} - {"id", "scope", "indexed_at"}
        old_to_new: dict[int, int] = {}
        with Session(self.engine) as session, session.begin():
            rows: list[tuple[int, MemoryRow]] = []
            for data in items:
                fields = {k: v for k, v in data.items() if k in columns}
                row = MemoryRow(scope=scope_token(fields["user"], fields["agent"]), **fields)
                session.add(row)
                rows.append((int(data["id"]), row))
            session.flush()
            old_to_new = {old: row.id for old, row in rows}
            for _, row in rows:
                for link in ("supersedes", "superseded_by", "segment_id"):
                    value = getattr(row, link)
                    if value is not None:
                        setattr(row, link, old_to_new.get(value))
        return old_to_new

    def update(self, item_id: int, **fields: Any) -> MemoryItem:
        """Change fields of one item; the vector index learns of it (indexed_at is cleared)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(MemoryRow, item_id)
            if row is None:
                raise LookupError(f"no memory item {item_id}")
            for name, value in fields.items():
                setattr(row, name, value)
            if "text" in fields:
                row.tokens = estimate_tokens(fields["text"])
            row.updated_at = time.time()
            row.indexed_at = None
            return to_item(row)

    def update_where(self, ids: Sequence[int], **fields: Any) -> None:
        """Set fields on many items in one statement (the vector index is told to refresh them)."""
        if ids:
            with self.engine.begin() as connection:
                connection.execute(
                    update(MemoryRow)
                    .where(MemoryRow.id.in_(ids))
                    .values(**fields, updated_at=time.time(), indexed_at=None)
                )

    def touch(self, id_to_visits: dict[int, int], now: float) -> None:
        """Count retrieval visits (heat) without disturbing the index."""
        if id_to_visits:
            with self.engine.begin() as connection:
                connection.execute(
                    update(MemoryRow)
                    .where(MemoryRow.id == bindparam("item_id"))
                    .values(visits=MemoryRow.visits + bindparam("n"), accessed_at=now),
                    [{"item_id": i, "n": n} for i, n in id_to_visits.items()],
                )

    def forget(self, item_id: int, *, purge: bool = False) -> MemoryItem:
        """Never recall this item again; with `purge` its words are erased too (keyword index included)."""
        fields: dict[str, Any] = {"state": "forgotten", "pinned": False}
        if purge:
            fields.update(text="", key=None, tags=[], meta={"purged_at": time.time()})
        return self.update(item_id, **fields)

    def set_pinned(self, item_id: int, pinned: bool) -> MemoryItem:
        """Pinned items are always paged in and never archived."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(MemoryRow, item_id)
            if row is None:
                raise LookupError(f"no memory item {item_id}")
            row.pinned = pinned
            row.updated_at = time.time()
            return to_item(row)

    def set_heat(self, id_to_heat: dict[int, float]) -> None:
        """Store freshly computed heat (shown by `aios memory ls`; the pager recomputes it every pass)."""
        if id_to_heat:
            with self.engine.begin() as connection:
                connection.execute(
                    update(MemoryRow)
                    .where(MemoryRow.id == bindparam("item_id"))
                    .values(heat=bindparam("value")),
                    [{"item_id": i, "value": v} for i, v in id_to_heat.items()],
                )

    def reset_visits(self, item_id: int, meta: dict[str, Any]) -> None:
        """After a promotion the segment starts collecting visits again (MemoryOS resets N_visit)."""
        with self.engine.begin() as connection:
            connection.execute(update(MemoryRow).where(MemoryRow.id == item_id).values(visits=0, meta=meta))

    def archive_segments(self, segment_ids: Sequence[int]) -> None:
        """Move cold segments and their pages to the archive tier (kept; keyword search still finds them)."""
        if segment_ids:
            stamp = time.time()
            with self.engine.begin() as connection:
                connection.execute(
                    update(MemoryRow)
                    .where(or_(MemoryRow.id.in_(segment_ids), MemoryRow.segment_id.in_(segment_ids)))
                    .values(tier="archive", updated_at=stamp, indexed_at=None)
                )

    def mark_indexed(self, seen: Mapping[int, float], when: float) -> None:
        """The vector index holds these rows as they were read (id -> their `updated_at` then).

        A row changed since stays unindexed for the next pass. Comparing with the value read, not with a
        clock, also catches a write that took its timestamp before the read but committed after it (a
        fact superseded while the indexer embedded it stayed in the vector index).
        """
        if seen:
            with self.engine.begin() as connection:
                connection.execute(
                    update(MemoryRow)
                    .where(MemoryRow.id == bindparam("item_id"), MemoryRow.updated_at == bindparam("seen_at"))
                    .values(indexed_at=when),
                    [{"item_id": i, "seen_at": u} for i, u in seen.items()],
                )

    def clear_indexed(self) -> int:
        """Forget what the vector index holds (before a rebuild); returns the rows to re-embed."""
        with self.engine.begin() as connection:
            connection.execute(update(MemoryRow).values(indexed_at=None))
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(MemoryRow)) or 0

    # ---- reads -----------------------------------------------------------------------------------

    def get(self, item_id: int) -> MemoryItem | None:
        with Session(self.engine) as session:
            row = session.get(MemoryRow, item_id)
            return to_item(row) if row else None

    def get_many(self, ids: Sequence[int]) -> dict[int, MemoryItem]:
        """Items by id, read as plain rows (an ORM session costs more than the read on every recall)."""
        if not ids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(_SELECT_BY_IDS, {"ids": list(ids)})
            return {row.id: MemoryItem.model_validate(row) for row in rows}

    def rows(self, ids: Sequence[int]) -> list[MemoryRow]:
        """Detached rows with every column (the indexer and pager need meta and scope)."""
        if not ids:
            return []
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.scalars(select(MemoryRow).where(MemoryRow.id.in_(ids))))
            session.expunge_all()
            return rows

    def list_items(self, **filters: Any) -> list[MemoryItem]:
        """Items matching `filters` (see `list_rows`)."""
        return [to_item(row) for row in self.list_rows(**filters)]

    def list_rows(
        self,
        *,
        user: str | None = None,
        agent: str | None = None,
        session: str | None = None,
        tiers: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        states: Sequence[str] | None = ("active",),
        pinned: bool | None = None,
        segment_id: int | None = None,
        order: str = "id",
        limit: int | None = 100,
    ) -> list[MemoryRow]:
        """Detached rows with every column (pages' messages, segments' centroids), in one query."""
        query = select(MemoryRow)
        if user is not None:
            query = query.where(MemoryRow.user == user)
        if agent is not None:
            query = query.where(MemoryRow.agent == agent)
        if session is not None:
            query = query.where(MemoryRow.session == session)
        if tiers:
            query = query.where(MemoryRow.tier.in_(tiers))
        if kinds:
            query = query.where(MemoryRow.kind.in_(kinds))
        if states:
            query = query.where(MemoryRow.state.in_(states))
        if pinned is not None:
            query = query.where(MemoryRow.pinned == pinned)
        if segment_id is not None:
            query = query.where(MemoryRow.segment_id == segment_id)
        query = query.order_by(MemoryRow.id.desc() if order == "newest" else MemoryRow.id)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine, expire_on_commit=False) as db:
            rows = list(db.scalars(query))
            db.expunge_all()
            return rows

    def pending(self, work: str, limit: int = 64) -> list[MemoryRow]:
        """Rows the pager owes `work`, oldest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(
                session.scalars(
                    select(MemoryRow)
                    .where(MemoryRow.pending == work, MemoryRow.state == "active")
                    .order_by(MemoryRow.id)
                    .limit(limit)
                )
            )
            session.expunge_all()
            return rows

    def unindexed(self, after_id: int = 0, limit: int = 512) -> list[int]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(MemoryRow.id)
                    .where(MemoryRow.indexed_at.is_(None), MemoryRow.id > after_id)
                    .order_by(MemoryRow.id)
                    .limit(limit)
                )
            )

    def agents(self, user: str) -> list[str]:
        """Agents that hold memory of `user`."""
        with Session(self.engine) as session:
            query = select(MemoryRow.agent).where(MemoryRow.user == user).distinct().order_by(MemoryRow.agent)
            return list(session.scalars(query))

    def count_items(self, user: str, agent: str) -> int:
        with Session(self.engine) as session:
            query = (
                select(func.count())
                .select_from(MemoryRow)
                .where(MemoryRow.user == user, MemoryRow.agent == agent)
            )
            return session.scalar(query) or 0

    def count_unindexed(self) -> int:
        with Session(self.engine) as session:
            query = select(func.count()).select_from(MemoryRow).where(MemoryRow.indexed_at.is_(None))
            return session.scalar(query) or 0

    def keyword_search(self, scopes: Sequence[str], query: str, limit: int) -> list[int]:
        """Ids of active items in `scopes` ranked by full-text relevance (BM25 or ts_rank)."""
        return self.keywords.search(scopes, query, limit)

    def export(self, *, user: str | None = None, agent: str | None = None) -> Iterator[dict[str, Any]]:
        """Every item, history included, as plain dicts (JSON Lines export)."""
        query = select(MemoryRow).order_by(MemoryRow.id)
        if user is not None:
            query = query.where(MemoryRow.user == user)
        if agent is not None:
            query = query.where(MemoryRow.agent == agent)
        with Session(self.engine) as session:
            for row in session.scalars(query.execution_options(yield_per=1000)):
                data = to_item(row).model_dump(mode="json")
                data["meta"] = row.meta
                yield data

    def stats(self, *, user: str | None = None) -> list[dict[str, Any]]:
        """Item counts and tokens per agent, tier and state."""
        query = select(
            MemoryRow.user,
            MemoryRow.agent,
            MemoryRow.tier,
            MemoryRow.state,
            func.count(),
            func.coalesce(func.sum(MemoryRow.tokens), 0),
            func.sum(func.cast(MemoryRow.indexed_at.is_(None), MemoryRow.visits.type)),
        ).group_by(MemoryRow.user, MemoryRow.agent, MemoryRow.tier, MemoryRow.state)
        if user is not None:
            query = query.where(MemoryRow.user == user)
        with Session(self.engine) as session:
            return [
                {
                    "user": r[0],
                    "agent": r[1],
                    "tier": r[2],
                    "state": r[3],
                    "items": r[4],
                    "tokens": int(r[5]),
                    "unindexed": int(r[6] or 0),
                }
                for r in session.execute(query)
            ]
