"""Costs measured from the engine's own work: which samples count, and what is kept between runs."""

from __future__ import annotations

import json
from pathlib import Path

from aios.kernel.engines.calibration import DEFAULT_PREFILL_TOKENS_PER_S, CalibrationMeter


def test_prefill_samples_count_only_when_prompt_tokens_dominate_a_batch() -> None:
    meter = CalibrationMeter(kv_bytes_per_token=100.0, key="k", path=None)
    meter.observe_batch(prefill_tokens=8, total_tokens=8, seconds=0.01)  # too small to say anything
    meter.observe_batch(prefill_tokens=40, total_tokens=100, seconds=0.1)  # mostly decode tokens
    assert meter.current().prefill_tokens_per_s == DEFAULT_PREFILL_TOKENS_PER_S
    meter.observe_batch(prefill_tokens=200, total_tokens=204, seconds=0.5)
    assert meter.current().prefill_tokens_per_s == 204 / 0.5
    meter.observe_swap(out_bytes=2_000_000, out_s=0.001, in_bytes=0, in_s=0.0)
    costs = meter.current()
    assert costs.swap_out_bytes_per_s == 2e9 and costs.kv_bytes_per_token == 100.0


def test_what_was_measured_is_kept_for_the_same_model_and_threads_only(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    first = CalibrationMeter(kv_bytes_per_token=100.0, key="model|2|f16", path=path)
    first.save()
    assert not path.exists()  # nothing measured yet: nothing to keep
    first.observe_batch(prefill_tokens=300, total_tokens=300, seconds=1.0)
    first.save()
    assert json.loads(path.read_text())["calibration"]["prefill_tokens_per_s"] == 300.0
    again = CalibrationMeter(kv_bytes_per_token=100.0, key="model|2|f16", path=path)
    assert again.current().prefill_tokens_per_s == 300.0
    other = CalibrationMeter(kv_bytes_per_token=100.0, key="model|2|bf16", path=path)
    assert other.current().prefill_tokens_per_s == DEFAULT_PREFILL_TOKENS_PER_S
