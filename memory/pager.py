"""The paging daemon (a kernel process, like kswapd): groups paged-out pages into topic segments,
summarises them, promotes hot segments to long-term facts and archives the coldest.

Its LLM calls are ordinary syscalls of a background process, so agents always go first. A small model's
bad JSON never loses anything: the output is grammar-constrained, retried, and finally replaced by the raw
text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from aios.kernel.errors import AiosError
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling
from aios.memory.config import MemorySettings
from aios.memory.embedder import Embedder
from aios.memory.heat import heat
from aios.memory.keyword_search import STOPWORDS
from aios.memory.schema import MemoryRow
from aios.memory.store import MemoryStore

logger = logging.getLogger(__name__)

LLMCall = Callable[[LLMSyscall], Awaitable[LLMResult]]
T = TypeVar("T", bound=BaseModel)

SEGMENT_TEXT_CHARS = 1800
"""Most recent page text a summary request shows the model."""
FALLBACK_SUMMARY_CHARS = 600
PARALLEL_CALLS = 4
IGNORED_WORDS = STOPWORDS | {"user", "assistant", "tool", "output"}
"""Summaries or promotions in flight at once (the engine batches them)."""


class Summary(BaseModel):
    summary: str = Field(min_length=1, max_length=600)
    keywords: list[str] = Field(default_factory=list, max_length=8)


class Fact(BaseModel):
    about: Literal["user", "other"]
    key: str = Field(min_length=1, max_length=60)
    fact: str = Field(min_length=1, max_length=300)


class Facts(BaseModel):
    facts: list[Fact] = Field(max_length=6)


class PagerReport(BaseModel):
    """What one pass did."""

    segmented: int = 0
    new_segments: int = 0
    summarised: int = 0
    summary_fallbacks: int = 0
    promoted_facts: int = 0
    promotion_fallbacks: int = 0
    archived_segments: int = 0
    llm_calls: int = 0
    bad_outputs: int = 0


def keywords(text: str, limit: int = 8) -> list[str]:
    """The most frequent content words (the fallback when the model gives none)."""
    counts = Counter(w for w in re.findall(r"[^\W\d_]{3,}", text.lower()) if w not in IGNORED_WORDS)
    return [w for w, _ in counts.most_common(limit)]


def jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


class Pager:
    def __init__(
        self,
        store: MemoryStore,
        settings: MemorySettings,
        embedder: Callable[[], Embedder],
        on_change: Callable[[], object],
        *,
        model: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._embedder = embedder
        self._on_change = on_change
        self.model = model
        self.wake = asyncio.Event()

    async def run_forever(self, llm: LLMCall, *, period_s: float = 30.0) -> None:
        """Work whenever woken (paging out, visits) and at least every `period_s` (heat decays)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=period_s)
            self.wake.clear()
            try:
                await self.run_once(llm)
            except AiosError as e:
                logger.warning("memory pager: %s; retrying on the next pass", e)

    async def run_once(self, llm: LLMCall) -> PagerReport:
        """One full pass: segment, summarise, promote, archive."""
        report = PagerReport()
        await self._segment(report)
        await self._summarise(llm, report)
        # heat is rated once per pass: archiving uses the ratings from before this pass's promotions
        rated = await asyncio.to_thread(self._segment_heat, time.time())
        await self._promote(llm, rated, report)
        await self._archive(rated, report)
        if any((report.segmented, report.summarised, report.promoted_facts, report.archived_segments)):
            self._on_change()
        return report

    # ---- segments --------------------------------------------------------------------------------

    async def _segment(self, report: PagerReport) -> None:
        while pages := await asyncio.to_thread(self.store.pending, "segment", 64):
            vectors = await asyncio.to_thread(self._embedder().encode, [p.text for p in pages])
            await asyncio.to_thread(self._assign, pages, vectors, report)

    def _assign(self, pages: list[MemoryRow], vectors: np.ndarray, report: PagerReport) -> None:
        scope_to_segments: dict[tuple[str, str], list[MemoryRow]] = {}
        for page, vector in zip(pages, vectors, strict=True):
            scope = (page.user, page.agent)
            if scope not in scope_to_segments:
                scope_to_segments[scope] = self.store.list_rows(
                    user=page.user, agent=page.agent, tiers=["mid"], kinds=["segment"], limit=None
                )
            segments = scope_to_segments[scope]
            page_keywords = keywords(page.text)
            best, best_score = None, -1.0
            for segment in segments:
                centroid = np.asarray(segment.meta.get("centroid", []), dtype=np.float32)
                if centroid.shape != vector.shape:
                    continue
                score = float(centroid @ vector) + jaccard(page_keywords, segment.meta.get("keywords", []))
                if score > best_score:
                    best, best_score = segment, score
            if best is not None and best_score >= self.settings.segment_threshold:
                n = int(best.meta.get("pages", 1))
                centroid = (np.asarray(best.meta["centroid"], dtype=np.float32) * n + vector) / (n + 1)
                centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
                merged = list(dict.fromkeys([*best.meta.get("keywords", []), *page_keywords]))[:12]
                best.meta = {**best.meta, "centroid": centroid.tolist(), "keywords": merged, "pages": n + 1}
                self.store.update(best.id, meta=best.meta, pending="summary")
                segment_id = best.id
            else:
                segment = self.store.add(
                    user=page.user,
                    agent=page.agent,
                    session=page.session,
                    tier="mid",
                    kind="segment",
                    text=page.text[:FALLBACK_SUMMARY_CHARS],
                    source="pager",
                    meta={"centroid": vector.tolist(), "keywords": page_keywords, "pages": 1},
                    pending="summary",
                )
                segments.append(self.store.rows([segment.id])[0])  # its centroid, for the next pages
                segment_id = segment.id
                report.new_segments += 1
            self.store.update(page.id, segment_id=segment_id, pending=None)
            report.segmented += 1

    async def _summarise(self, llm: LLMCall, report: PagerReport) -> None:
        while segments := await asyncio.to_thread(self.store.pending, "summary", PARALLEL_CALLS):
            await asyncio.gather(*(self._summarise_one(llm, s, report) for s in segments))

    async def _summarise_one(self, llm: LLMCall, segment: MemoryRow, report: PagerReport) -> None:
        pages = await asyncio.to_thread(
            self.store.list_items, segment_id=segment.id, kinds=["page"], states=None, limit=None
        )
        raw = "\n".join(p.text for p in pages)[-SEGMENT_TEXT_CHARS:]
        prompt = (
            "Summarise this conversation excerpt in one or two sentences that keep names, dates, places and "
            "facts, and give up to five keywords.\n\n" + raw
        )
        summary = await self._structured(llm, prompt, Summary, 160, report)
        meta = dict(segment.meta)
        if summary is None:
            report.summary_fallbacks += 1
            meta["summary_fallback"] = True
            text = raw[:FALLBACK_SUMMARY_CHARS]
            words = meta.get("keywords") or keywords(raw)
        else:
            meta["summary_fallback"] = False
            text = summary.summary.strip()
            words = list(
                dict.fromkeys(
                    [*(k.strip().lower() for k in summary.keywords if k.strip()), *meta.get("keywords", [])]
                )
            )[:12]
        meta["keywords"] = words
        body = f"{text}\nKeywords: {', '.join(words)}" if words else text
        await asyncio.to_thread(self.store.update, segment.id, text=body, meta=meta, pending=None)
        report.summarised += 1

    # ---- promotion and eviction -----------------------------------------------------------------

    def _segment_heat(self, now: float) -> list[tuple[MemoryRow, float]]:
        rows = self.store.list_rows(tiers=["mid"], kinds=["segment"], limit=None)
        out = []
        for row in rows:
            value = heat(
                visits=row.visits,
                pages=int(row.meta.get("pages", 1)),
                idle_s=now - row.accessed_at,
                weights=self.settings.heat,
            )
            out.append((row, value))
        self.store.set_heat({row.id: value for row, value in out})
        return out

    async def _promote(self, llm: LLMCall, rated: list[tuple[MemoryRow, float]], report: PagerReport) -> None:
        hot = [row for row, value in rated if value >= self.settings.promote_heat and row.pending is None]
        for start in range(0, len(hot), PARALLEL_CALLS):
            await asyncio.gather(
                *(self._promote_one(llm, row, report) for row in hot[start : start + PARALLEL_CALLS])
            )

    async def _promote_one(self, llm: LLMCall, segment: MemoryRow, report: PagerReport) -> None:
        prompt = (
            "From this summary of a conversation, list up to five lasting facts. For each: about (user or "
            "other), a short snake_case key naming the attribute (e.g. home_city), and the fact as one "
            "sentence.\n\n" + segment.text
        )
        facts = await self._structured(llm, prompt, Facts, 200, report)
        common = {"user": segment.user, "agent": segment.agent, "tier": "long", "source": "promotion"}
        if facts is None or not facts.facts:
            report.promotion_fallbacks += 1
            await asyncio.to_thread(
                self.store.add,
                **common,
                kind="knowledge",
                text=segment.text,
                meta={"segment": segment.id, "fallback": True},
            )
            report.promoted_facts += 1
        else:
            for fact in facts.facts:
                key = re.sub(r"[^a-z0-9_]+", "_", fact.key.lower()).strip("_") or "fact"
                await asyncio.to_thread(
                    self.store.add,
                    **common,
                    kind="profile" if fact.about == "user" else "knowledge",
                    key=f"{fact.about}.{key}",
                    text=fact.fact.strip(),
                    meta={"segment": segment.id},
                )
                report.promoted_facts += 1
        meta = {
            **segment.meta,
            "promoted_at": time.time(),
            "promotions": int(segment.meta.get("promotions", 0)) + 1,
        }
        await asyncio.to_thread(self.store.reset_visits, segment.id, meta)

    async def _archive(self, rated: list[tuple[MemoryRow, float]], report: PagerReport) -> None:
        scope_to_segments: dict[tuple[str, str], list[tuple[MemoryRow, float]]] = defaultdict(list)
        for row, value in rated:
            if not row.pinned:
                scope_to_segments[(row.user, row.agent)].append((row, value))
        for segments in scope_to_segments.values():
            excess = len(segments) - self.settings.mid_term_segments
            if excess <= 0:
                continue
            coldest = sorted(segments, key=lambda rv: (rv[1], rv[0].id))[:excess]
            ids = [row.id for row, _ in coldest]
            await asyncio.to_thread(self.store.archive_segments, ids)
            report.archived_segments += len(ids)

    # ---- tolerant structured output -------------------------------------------------------------

    async def _structured(
        self, llm: LLMCall, prompt: str, schema: type[T], max_tokens: int, report: PagerReport
    ) -> T | None:
        """Ask for JSON matching `schema`; retry with sampling on bad output; None after the last try."""
        for attempt in range(self.settings.pager_retries + 1):
            request = LLMSyscall(
                messages=(Message(role="user", content=prompt),),
                response_schema=schema.model_json_schema(),
                max_tokens=max_tokens,
                model=self.model,
                sampling=Sampling(temperature=0.0 if attempt == 0 else 0.7, seed=attempt, repeat_penalty=1.1),
            )
            report.llm_calls += 1
            result = await llm(request)
            try:
                return schema.model_validate(json.loads(result.content))
            except (ValueError, ValidationError) as e:
                report.bad_outputs += 1
                logger.info("memory pager: attempt %d gave unusable JSON (%s)", attempt + 1, str(e)[:200])
        return None
