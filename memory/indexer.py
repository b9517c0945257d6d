"""Keeps the vector index in step with SQL on a background thread, so writes never wait on embeddings."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from aios.memory.embedder import Embedder
from aios.memory.store import MemoryStore
from aios.memory.vector_index import VectorIndex

logger = logging.getLogger(__name__)

BATCH = 64


class Indexer:
    """Embeds rows whose `indexed_at` is empty; inactive or archived rows are taken out of the index.

    Work is found from SQL, not from an in-memory queue, so rows written before a crash are indexed after the
    restart. `wait_for(seq)` lets a reader see its own writes.
    """

    def __init__(
        self,
        store: MemoryStore,
        index: Callable[[], VectorIndex],
        embedder: Callable[[], Embedder],
    ) -> None:
        self.store = store
        self._index = index
        self._embedder = embedder
        self._cond = threading.Condition()
        self._requested = 0
        self._done = 0
        self._stopping = False
        self.error: str | None = None
        """The last indexing failure (the rows stay unindexed and are retried)."""
        self._thread = threading.Thread(target=self._loop, name="aios-memory-indexer", daemon=True)
        self._thread.start()

    def poke(self) -> int:
        """New or changed rows exist; returns a ticket that `wait_for` accepts."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()
            return self._requested

    def reached(self, ticket: int) -> bool:
        """Whether the rows written before `ticket` are indexed (without waiting)."""
        with self._cond:
            return self._done >= ticket

    def wait_for(self, ticket: int, timeout: float) -> bool:
        """Block until the rows written before `ticket` are indexed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._done < ticket and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return self._done >= ticket

    @property
    def ticket(self) -> int:
        with self._cond:
            return self._requested

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        seen = -1
        while True:
            with self._cond:
                while self._requested == seen and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                target = self._requested
            try:
                self.run_once()
                self.error = None
            except Exception as e:
                self.error = f"{type(e).__name__}: {e}"
                logger.exception("memory indexer: a batch failed; the rows stay queued")
                time.sleep(1.0)
                with self._cond:
                    self._done = target
                    self._cond.notify_all()
                continue
            seen = target
            with self._cond:
                self._done = target
                self._cond.notify_all()

    def run_once(self) -> int:
        """Index everything that is unindexed now; returns the rows handled."""
        handled = 0
        after = 0
        while True:
            ids = self.store.unindexed(after, limit=BATCH * 8)
            if not ids:
                return handled
            after = ids[-1]
            for start in range(0, len(ids), BATCH):
                handled += self._index_batch(ids[start : start + BATCH])

    def _index_batch(self, ids: list[int]) -> int:
        stamp = time.time()
        rows = self.store.rows(ids)
        live = [r for r in rows if r.state == "active" and r.tier != "archive"]
        gone = [r for r in rows if r not in live]
        index = self._index()
        scope_to_gone: dict[str, list[int]] = defaultdict(list)
        for row in gone:
            scope_to_gone[row.scope].append(row.id)
        for scope, gone_ids in scope_to_gone.items():
            index.delete(scope, gone_ids)
        if live:
            vectors = self._embedder().encode([row.text for row in live])
            scope_to_rows: dict[str, list[int]] = defaultdict(list)
            for position, row in enumerate(live):
                scope_to_rows[row.scope].append(position)
            for scope, positions in scope_to_rows.items():
                index.upsert(
                    scope,
                    [live[p].id for p in positions],
                    vectors[positions],
                    [{"tier": live[p].tier, "kind": live[p].kind} for p in positions],
                )
        self.store.mark_indexed({r.id: r.updated_at for r in rows}, stamp)
        return len(rows)
