"""`aios bench drivers`: per-operation latency of every device driver against its real backend.

Each driver's benchmark (`bench_<driver>.py`) calls the driver directly, without the kernel, so the figures
are the device's own cost; the kernel's overhead per syscall is what `aios bench concurrency` measures.
"""

from __future__ import annotations

import importlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel

from aios.kernel.errors import UserError

DRIVERS = ("shell", "browser", "gui", "kubernetes", "ansible")
Progress = Callable[[str], None]
Bench = Callable[[int, Path], Awaitable[dict[str, list[float]]]]


class OperationLatency(BaseModel):
    driver: str
    operation: str
    runs: int
    median_ms: float
    p95_ms: float
    max_ms: float


class DriversReport(BaseModel):
    rows: list[OperationLatency]
    runs: int
    seconds: float

    def markdown(self) -> str:
        lines = [
            f"Driver operations, {self.runs} runs each, called directly (no kernel)",
            "",
            "| driver | operation | median ms | p95 ms | max ms |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.driver} | {r.operation} | {r.median_ms:.1f} | {r.p95_ms:.1f} | {r.max_ms:.1f} |"
            for r in self.rows
        ]
        return "\n".join(lines)

    def last_line(self) -> str:
        medians = " ".join(f"{r.driver}.{r.operation}={r.median_ms:.0f}ms" for r in self.rows)
        return f"operations={len(self.rows)} {medians}"


def _bench(driver: str) -> Bench:
    module = importlib.import_module(f"aios.evals.bench_{driver}")
    bench: Bench = getattr(module, f"bench_{driver}")
    return bench


async def run_driver_bench(
    drivers: list[str], *, runs: int, progress: Progress = lambda _: None
) -> DriversReport:
    unknown = [d for d in drivers if d not in DRIVERS]
    if unknown:
        raise UserError(f"no benchmark for driver(s) {unknown}; known: {list(DRIVERS)}")
    started = time.monotonic()
    rows: list[OperationLatency] = []
    for driver in drivers or DRIVERS:
        progress(f"{driver}: {runs} runs per operation")
        with tempfile.TemporaryDirectory(prefix=f"aios-bench-{driver}-") as folder:
            samples = await _bench(driver)(runs, Path(folder))
        for operation, latencies in samples.items():
            ordered = sorted(latencies)
            rows.append(
                OperationLatency(
                    driver=driver,
                    operation=operation,
                    runs=len(ordered),
                    median_ms=statistics.median(ordered),
                    p95_ms=ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
                    max_ms=ordered[-1],
                )
            )
    return DriversReport(rows=rows, runs=runs, seconds=time.monotonic() - started)
