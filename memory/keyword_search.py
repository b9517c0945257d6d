"""Keyword search over memory: a query's words, ranked per database (FTS5, tsvector or LIKE)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.engine import Connection

from aios.memory.schema import MemoryRow

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# fmt: off
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from",
    "had", "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
    "where", "which", "who", "whom", "why", "will", "with", "you", "your", "yours",
))
# fmt: on

FTS_COMMON_SHARE = 0.05
"""Terms in more than this share of all memories are too common to rank by (SQLite keyword search)."""
FTS_OR_TERMS = 4
FTS_RANK_ROWS = 2000
FTS_SMALL_SCOPE_SHARE = 5
"""A scope under 1/5 of all memories is intersected inside FTS5; a bigger one is filtered in the join."""
STATS_TTL_S = 60.0


def query_terms(query: str, limit: int = 12) -> list[str]:
    """Distinct lowercase words of a query, stopwords dropped (keyword search ORs them)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)[:limit]


class KeywordSearch:
    """Term and row counts are cached for a minute: the SQLite ranking plan needs only their magnitude."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._df_cache: dict[str, tuple[int, float]] = {}
        self._total: tuple[int, float] = (0, -STATS_TTL_S)

    def search(self, scopes: Sequence[str], query: str, limit: int) -> list[int]:
        """Ids of active items in `scopes` ranked by full-text relevance (BM25 or ts_rank)."""
        terms = query_terms(query)
        if not terms or not scopes:
            return []
        with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                return self._fts5_search(connection, scopes, terms, limit)
            if self.dialect == "postgresql":
                tsquery = " | ".join(re.sub(r"\W", "", t) for t in terms if re.sub(r"\W", "", t))
                if not tsquery:
                    return []
                sql = text(
                    "SELECT id FROM memory_items, to_tsquery('english', :q) query "
                    "WHERE tsv @@ query AND scope = ANY(:scopes) AND state = 'active' "
                    "ORDER BY ts_rank_cd(tsv, query) DESC, id DESC LIMIT :n"
                )
                return [
                    r[0] for r in connection.execute(sql, {"q": tsquery, "scopes": list(scopes), "n": limit})
                ]
            # any other database: a plain substring match on the rarest-looking term
            pattern = f"%{max(terms, key=len)}%"
            rows = connection.execute(
                select(MemoryRow.id)
                .where(MemoryRow.scope.in_(scopes), MemoryRow.state == "active", MemoryRow.text.like(pattern))
                .order_by(MemoryRow.id.desc())
                .limit(limit)
            )
            return [r[0] for r in rows]

    def _fts5_search(
        self, connection: Connection, scopes: Sequence[str], terms: list[str], limit: int
    ) -> list[int]:
        """All terms together first (precise and cheap); then the rarer terms, any of them.

        BM25 ordering costs about a microsecond per matching row, so terms found in more than
        FTS_COMMON_SHARE of all memories do not take part in the ranked OR query, and an OR query that would
        still match more than FTS_RANK_ROWS rows returns the newest matches instead of ranking them.
        A scope that holds most of the memories is filtered in the join (as a MATCH term its 100k-entry
        posting list costs milliseconds); a small one is a MATCH term, so FTS5 intersects the lists.
        """
        quoted = {t: '"' + t.replace('"', "") + '"' for t in terms}
        df = {t: self._frequency(connection, f"text:{quoted[t]}") for t in terms}
        present = sorted((t for t in terms if df[t] > 0), key=df.__getitem__)
        if not present:
            return []
        total = self._document_count(connection)
        in_scopes = sum(self._frequency(connection, f'scope:"{s}"') for s in scopes)
        small_scope = in_scopes * FTS_SMALL_SCOPE_SHARE < total
        scope_match = "scope:(" + " OR ".join(f'"{s}"' for s in scopes) + ") AND " if small_scope else ""
        found: list[int] = []
        if len(present) > 1:
            every = " AND ".join(quoted[t] for t in present)
            found = self._fts5_query(connection, f"{scope_match}text:({every})", scopes, limit, ranked=True)
        if len(found) < limit:
            common = max(FTS_COMMON_SHARE * total, 50.0)
            chosen = [t for t in present if df[t] <= common][:FTS_OR_TERMS] or present[:1]
            anyof = " OR ".join(quoted[t] for t in chosen)
            ranked = min(sum(df[t] for t in chosen), in_scopes) <= FTS_RANK_ROWS
            more = self._fts5_query(connection, f"{scope_match}text:({anyof})", scopes, limit, ranked=ranked)
            seen = set(found)
            found += [i for i in more if i not in seen]
        return found[:limit]

    @staticmethod
    def _fts5_query(
        connection: Connection, match: str, scopes: Sequence[str], limit: int, *, ranked: bool
    ) -> list[int]:
        sql = text(
            "SELECT m.id FROM memory_fts JOIN memory_items m ON m.id = memory_fts.rowid "
            "WHERE memory_fts MATCH :q AND m.scope IN :scopes AND m.state = 'active' "
            f"ORDER BY {'memory_fts.rank' if ranked else 'memory_fts.rowid DESC'} LIMIT :n"
        ).bindparams(bindparam("scopes", expanding=True))
        return [r[0] for r in connection.execute(sql, {"q": match, "scopes": list(scopes), "n": limit})]

    def _frequency(self, connection: Connection, match: str) -> int:
        """Memories matching one term or scope, cached for a minute: its order of magnitude is enough."""
        now = time.monotonic()
        cached = self._df_cache.get(match)
        if cached is not None and now - cached[1] < STATS_TTL_S:
            return cached[0]
        count = connection.execute(
            text("SELECT count(*) FROM memory_fts WHERE memory_fts MATCH :q"), {"q": match}
        ).scalar_one()
        if len(self._df_cache) > 50_000:
            self._df_cache.clear()
        self._df_cache[match] = (count, now)
        return count

    def _document_count(self, connection: Connection) -> int:
        now = time.monotonic()
        if now - self._total[1] >= STATS_TTL_S:
            self._total = (connection.execute(text("SELECT count(*) FROM memory_items")).scalar_one(), now)
        return self._total[0]
