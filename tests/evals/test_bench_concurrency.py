"""`aios bench concurrency` runs end to end on a tiny workload (figures are for the note, not asserted)."""

from __future__ import annotations

import re

import pytest

from aios.evals.bench_concurrency import BenchParams, run_bench
from aios.kernel.kernel import Kernel

pytestmark = pytest.mark.model


async def test_bench_measures_every_mode(model_kernel: Kernel) -> None:
    params = BenchParams(concurrency=(1, 2), calls_per_agent=1, tokens_per_call=6, noop_calls=200)
    report = await run_bench(model_kernel, await model_kernel.engines.acquire(None), params)
    modes = [(r.mode, r.agents) for r in report.rows]
    assert modes == [("raw", 1), ("kernel", 1), ("raw", 2), ("kernel", 2), ("kernel-serial", 2)]
    # ignore_eos makes the token work identical in every mode
    assert {r.tokens for r in report.rows if r.agents == 2} == {12}
    assert all(r.seconds > 0 for r in report.rows)
    assert 0 < report.dispatch_us < 100_000
    assert re.fullmatch(
        r"throughput_8_vs_serial=\d+\.\d\d kernel_vs_raw=\d+\.\d\d dispatch_us=\d+\.\d", report.last_line()
    )
