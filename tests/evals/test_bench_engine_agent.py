"""`aios bench engine` and `aios bench agent` run end to end on tiny workloads (figures are for the note)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aios.evals.bench_agent import run_agent_bench
from aios.evals.bench_engine import EngineBenchParams, run_engine_bench
from aios.kernel.engines.configs import LocalEngineConfig

pytestmark = pytest.mark.model


async def test_engine_bench_measures_both_modes_and_batch_invariance(calibration_file: Path) -> None:
    params = EngineBenchParams(
        runs=1,
        decode_tokens=8,
        batch=4,
        batch_tokens=6,
        invariance_tokens=24,
        n_ctx=2048,
        n_seq_max=8,
        deterministic_n_ctx=8 * 1024,
        q4_0=False,
        probe_steps=8,
    )
    steps: list[str] = []
    report = await run_engine_bench(
        LocalEngineConfig(calibration_file=str(calibration_file)),
        params,
        deterministic=True,
        progress=steps.append,
    )
    default, deterministic = report.mode("default"), report.mode("deterministic")
    assert all(m.prefill_tok_s > 0 and m.decode_tok_s > 0 and m.aggregate_tok_s > 0 for m in report.modes)
    assert all(m.grammar_tok_s > 0 for m in report.modes)
    assert deterministic.invariant_outputs == deterministic.batch == 4  # what the mode promises
    assert deterministic.kv_mb > default.kv_mb  # 8192 cells against 2048
    assert steps[0] == "default mode: loading the model"
    assert re.fullmatch(
        r"decode_tok_s=[\d.]+ aggregate8_tok_s=[\d.]+ grammar_tok_s=[\d.]+ prefill_tok_s=\d+ "
        r"aggregate8_decode_tok_s=[\d.]+ llama_cpp_decode_tok_s=[\d.]+ llama_cpp_aggregate8_tok_s=[\d.]+ "
        r"deterministic_aggregate_vs_default=[\d.]+ invariant_default=\d/4 invariant_deterministic=4/4",
        report.last_line(),
    )
    assert "| deterministic |" in report.markdown()


async def test_agent_bench_times_the_kernel_side_from_a_new_process() -> None:
    report = await run_agent_bench(runs=1, with_server=False)
    (run,) = report.kernel
    assert run.tokens > 0 and run.calls_s >= 1.0  # two half-second tool pauses are inside the calls
    assert run.end_to_end_s > run.calls_s  # a new interpreter, the imports and the model load come first
    assert report.server == [] and report.server_missing == "skipped (--no-server)"
    assert re.fullmatch(r"kernel_calls_s=[\d.]+ kernel_e2e_s=[\d.]+", report.last_line())
