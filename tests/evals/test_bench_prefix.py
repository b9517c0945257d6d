"""`aios bench prefix` runs end to end on a small workload (figures are for the note, not asserted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aios.boot import boot
from aios.config import Settings
from aios.evals.bench_prefix import PrefixBenchParams, model_configs, run_prefix_bench
from aios.kernel.engines.configs import LocalModelConfig

pytestmark = pytest.mark.model


async def test_the_same_work_prefills_less_with_shared_prefixes(settings: Settings, tmp_path: Path) -> None:
    local = settings.models["local"]
    assert isinstance(local, LocalModelConfig)
    settings = settings.model_copy(update={"models": {**settings.models, **model_configs(local)}})
    kernel = await boot(settings, cwd=tmp_path)
    try:
        params = PrefixBenchParams(agents=3, calls_per_agent=2, tools=4, pause_s=0.05, rounds=1)
        report = await run_prefix_bench(kernel, params)
    finally:
        await kernel.shutdown()
    shared, private = report.rows
    assert (shared.mode, private.mode) == ("shared", "private")
    assert shared.calls == private.calls == 6
    assert shared.prompt_tokens == private.prompt_tokens  # the same work on both engines
    assert shared.prefilled_tokens < private.prefilled_tokens
    assert re.fullmatch(
        r"prefill_shared_vs_private=\d+\.\d\d ttft_shared_vs_private=\d+\.\d\d", report.last_line()
    )
