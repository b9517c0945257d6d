"""`aios bench memory`: recall latency at 1k, 10k and 100k stored memories, and write latency.

Recall is measured end to end through the kernel's syscall path (`ctx.memory.recall`): query embedding, Chroma
search, full-text search, fusion and the row fetch; every question is asked once, so the embedder's cache of
recent query vectors never answers a measured recall. Writes are `ctx.memory.remember` until acknowledged
(committed), without the background work (embedding and indexing) they trigger.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel

from aios.kernel.contracts import KernelAPI
from aios.kernel.memory_port import MemoryPort
from aios.memory.manager import MemoryManager
from aios.sdk import Context
from aios.transport import InProcessTransport

OWNER = "bench"
Progress = Callable[[str], None]

NAMES = [
    "Ana",
    "Bruno",
    "Chen",
    "Dara",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Petra",
    "Quinn",
    "Rosa",
    "Sami",
    "Tala",
    "Ugo",
    "Vera",
    "Wen",
    "Xavi",
    "Yara",
    "Zoltan",
]
RELATIONS = [
    "sister",
    "brother",
    "cousin",
    "neighbour",
    "manager",
    "friend",
    "aunt",
    "uncle",
    "dentist",
    "coach",
]
ACTIVITIES = [
    "plays chess",
    "grows tomatoes",
    "teaches violin",
    "repairs bicycles",
    "bakes sourdough",
    "runs marathons",
    "collects stamps",
    "writes poetry",
    "paints murals",
    "keeps bees",
    "studies geology",
    "sails dinghies",
    "restores clocks",
    "brews cider",
    "climbs boulders",
    "knits scarves",
    "photographs birds",
    "codes in Rust",
]
PLACES = [
    "Lisbon",
    "Oslo",
    "Nairobi",
    "Osaka",
    "Quito",
    "Tbilisi",
    "Porto",
    "Leeds",
    "Hobart",
    "Tartu",
    "Cusco",
    "Dakar",
    "Bergen",
    "Kraków",
    "Valparaíso",
    "Hanoi",
    "Windhoek",
    "Reykjavík",
    "Granada",
    "Ljubljana",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]


def synthetic_memory(rng: random.Random, n: int) -> str:
    """A plausible, varied fact (names, places, dates, a serial number) like those agents remember."""
    name, relation = rng.choice(NAMES), rng.choice(RELATIONS)
    activity, place = rng.choice(ACTIVITIES), rng.choice(PLACES)
    month, year = rng.choice(MONTHS), rng.randint(2015, 2026)
    return f"{name}'s {relation} {activity} in {place} since {month} {year} (note {n})."


def synthetic_query(rng: random.Random) -> str:
    return f"Where does {rng.choice(NAMES)}'s {rng.choice(RELATIONS)} {rng.choice(ACTIVITIES).split()[0]}?"


def distinct_queries(seed: str, count: int) -> list[str]:
    """`count` different questions: the embedder keeps recent query vectors, and a measured recall must not
    find its question there."""
    rng = random.Random(seed)
    queries: dict[str, None] = {}
    while len(queries) < count:
        queries.setdefault(synthetic_query(rng), None)
    return list(queries)


class BenchParams(BaseModel):
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    queries: int = 60
    writes: int = 200
    k: int = 5
    seed: int = 7


QUICK = BenchParams(sizes=(200, 2_000), queries=20, writes=50)


class SizeRow(BaseModel):
    items: int
    recall_p50_ms: float
    recall_p95_ms: float
    build_s: float


class MemoryBenchReport(BaseModel):
    rows: list[SizeRow]
    remember_p50_ms: float
    remember_p95_ms: float

    def markdown(self) -> str:
        lines = ["| stored items | recall p50 ms | recall p95 ms | build s |", "|---|---|---|---|"]
        lines += [
            f"| {r.items} | {r.recall_p50_ms:.1f} | {r.recall_p95_ms:.1f} | {r.build_s:.0f} |"
            for r in self.rows
        ]
        lines.append(
            f"\nremember (write until acknowledged): p50 {self.remember_p50_ms:.2f} ms, "
            f"p95 {self.remember_p95_ms:.2f} ms"
        )
        return "\n".join(lines)

    def last_line(self) -> str:
        largest = self.rows[-1]
        label = f"{largest.items // 1000}k" if largest.items % 1000 == 0 else str(largest.items)
        return f"recall_p50_ms_{label}={largest.recall_p50_ms:.1f} remember_p50_ms={self.remember_p50_ms:.2f}"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _fill(memory: MemoryManager, agent: str, size: int, seed: int, progress: Progress) -> float:
    """Store `size` memories for `agent` (bulk insert, then the real indexer); reuses an earlier fill."""
    have = await asyncio.to_thread(memory.store.count_items, OWNER, agent)
    if have >= size and memory.store.count_unindexed() == 0:
        return 0.0
    started = time.monotonic()
    rng = random.Random(f"{seed}-{size}")
    if have < size:
        rows = [
            {"user": OWNER, "agent": agent, "tier": "long", "kind": "fact", "text": synthetic_memory(rng, n)}
            for n in range(have, size)
        ]
        await asyncio.to_thread(memory.store.add_many, rows)
    ticket = memory.indexer.poke()
    while not await asyncio.to_thread(memory.indexer.wait_for, ticket, 2.0):
        progress(f"{size} items: embedding and indexing, {memory.store.count_unindexed()} to go")
    if memory.indexer.error:
        raise RuntimeError(f"indexing failed: {memory.indexer.error}")
    return time.monotonic() - started


async def _in_process(kernel: KernelAPI, agent: str, body: Callable[[Context], object]) -> None:
    async def program(pid: int) -> None:
        await body(Context(InProcessTransport(kernel, pid)))  # type: ignore[misc]

    pid = await kernel.spawn(program, agent=agent, task="bench", capabilities=["memory.own"], owner=OWNER)
    record = await kernel.wait(pid)
    if record.state.value != "done":
        raise RuntimeError(f"benchmark process failed: {record.error}")


async def run_bench(
    kernel: KernelAPI, memory: MemoryPort, params: BenchParams, progress: Progress
) -> MemoryBenchReport:
    """Fill `memory` (the kernel's memory manager) directly, then recall and write through syscalls."""
    if not isinstance(memory, MemoryManager):
        raise RuntimeError("aios bench memory needs the memory manager (memory.enabled = true)")
    rows = []
    for size in params.sizes:
        agent = f"bench-{size}"
        progress(f"{size} items: storing")
        build_s = await _fill(memory, agent, size, params.seed, progress)
        queries = distinct_queries(f"{params.seed}-{size}", params.queries + 5)
        latencies: list[float] = []

        async def recall_many(
            ctx: Context, queries: list[str] = queries, latencies: list[float] = latencies, size: int = size
        ) -> None:
            for i, query in enumerate(queries):
                started = time.perf_counter()
                hits = await ctx.memory.recall(query, k=params.k)
                if i >= 5:  # the first few warm caches up
                    latencies.append((time.perf_counter() - started) * 1000)
                if not hits:
                    raise RuntimeError(f"recall found nothing for {query!r} among {size} items")

        progress(f"{size} items: {params.queries} recalls")
        await _in_process(kernel, agent, recall_many)
        rows.append(
            SizeRow(
                items=size,
                recall_p50_ms=statistics.median(latencies),
                recall_p95_ms=_percentile(latencies, 0.95),
                build_s=build_s,
            )
        )
    writes: list[float] = []

    async def remember_many(ctx: Context) -> None:
        rng = random.Random(params.seed + 1)
        for n in range(params.writes):
            text = synthetic_memory(rng, n)
            started = time.perf_counter()
            await ctx.memory.remember(text, tags=["bench"])
            writes.append((time.perf_counter() - started) * 1000)

    progress(f"{params.writes} writes")
    await _in_process(kernel, f"bench-writes-{int(time.time())}", remember_many)
    return MemoryBenchReport(
        rows=rows, remember_p50_ms=statistics.median(writes), remember_p95_ms=_percentile(writes, 0.95)
    )
