"""`aios bench kv` mechanics on a tiny workload: every policy runs the same programs on the real engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aios.evals.bench_kv import KVBenchParams, generate_programs, run_kv_bench
from aios.kernel.errors import ConfigError

pytestmark = pytest.mark.model


def test_generated_programs_follow_the_shape() -> None:
    params = KVBenchParams(programs=50, max_turns=30)
    programs = generate_programs(params, seed=1, rate=0.5)
    turns = [len(p.turns) for p in programs]
    assert 9 <= sum(turns) / len(turns) <= 13  # SWE-bench-like: about 11 turns
    durations = [t.tool_duration_s for p in programs for t in p.turns if t.tool_duration_s is not None]
    assert 0.3 <= sum(durations) / len(durations) <= 2.0  # mean about 0.9 s with a heavy tail
    assert max(durations) <= params.max_tool_s
    assert all(p.turns[-1].tool is None for p in programs)
    assert [p.arrival_s for p in programs] == sorted(p.arrival_s for p in programs)
    assert generate_programs(params, seed=1, rate=0.5) == programs


async def test_policies_replay_the_same_programs(calibration_file: Path, tmp_path: Path) -> None:
    params = KVBenchParams(
        programs=2,
        rates=(2.0,),
        main_rate=2.0,
        seeds=(1,),
        n_ctx=512,
        system_tokens=60,
        output_tokens=4,
        tool_output_tokens=10,
        max_turns=3,
        time_scale=0.1,
        policies=("none", "ours"),
    )
    report = await run_kv_bench(params, calibration_file=calibration_file)
    none, ours = report.results
    assert (none.policy, ours.policy) == ("none", "ours")
    assert len(none.jct_s) == len(ours.jct_s) == 2
    assert none.returns == ours.returns > 0
    assert none.ttl_hits == 0 and none.pinned_cell_seconds == 0
    assert ours.prefill_tokens < none.prefill_tokens  # the kept caches are not recomputed
    assert re.fullmatch(
        r"jct_ours_vs_none=\d+\.\d\d jct_ours_vs_best_baseline=nan prefill_ours_vs_none=\d+\.\d\d",
        report.last_line(),
    )
    report.plot(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 2.0 | ours |" in report.markdown()


async def test_one_scheduler_can_be_fixed_for_every_policy(calibration_file: Path) -> None:
    params = KVBenchParams(
        programs=1, rates=(1.0,), main_rate=1.0, seeds=(1,), policies=("ours",), scheduler="lottery"
    )
    with pytest.raises(ConfigError, match="unknown scheduler policy 'lottery'"):
        await run_kv_bench(params, calibration_file=calibration_file)
