"""The simulated GPU engine of `aios bench kv --simulate`: its costs, its cache, whole replays in seconds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aios.evals.bench_kv import generate_programs
from aios.evals.gpu_profile import GPU_PROFILES, GpuProfile
from aios.evals.kv_simulation import SIM_PARAMS, profile_named, run_kv_simulation, simulate
from aios.evals.sim_engine import SimEngine
from aios.kernel.errors import UserError
from aios.kernel.kv_types import KVDecision, KVState

GPU = GPU_PROFILES["gpu"]
SMALL = SIM_PARAMS.model_copy(update={"programs": 30, "rates": (1.0,), "seeds": (1,)})
"""30 programs at the full sizes: a replay in well under a second."""


def tight(profile: GpuProfile, tokens: int) -> GpuProfile:
    """The same machine with room in HBM for `tokens` of KV only."""
    return profile.model_copy(
        update={"hbm_bytes": profile.weight_bytes + tokens * profile.kv_bytes_per_token}
    )


def test_the_profile_gives_the_published_sizes_and_rates() -> None:
    assert GPU.kv_bytes_per_token == 128 * 1024  # Llama-3-8B: 32 x 8 x 128 x 2 x 2 bytes
    assert 480_000 < GPU.kv_capacity_tokens < 500_000  # 64 GB of HBM beside 16 GB of weights
    assert 25_000 < GPU.prefill_tokens_per_s < 35_000
    assert GPU.copy_s(10_000) == pytest.approx(10_000 * 131_072 / 50e9)  # 1.3 GB over PCIe 5.0: 26 ms
    assert GPU_PROFILES["gpu_pcie4"].copy_s(10_000) == pytest.approx(2 * GPU.copy_s(10_000))
    one = GPU.step_s(batch_tokens=1, context_tokens=0)
    assert 0.004 < one < 0.008  # weights read once a step: about 170 tokens/s for one sequence
    assert GPU.step_s(batch_tokens=1, context_tokens=100_000) > one  # attending costs reads
    costs = GPU.calibration()
    assert costs.swap_cost_s(10_000) < costs.drop_cost_s(10_000)  # a copy is cheaper than a prefill here


def test_unknown_profile_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown simulation profile 'tpu'"):
        profile_named("tpu")


def test_engine_reclaims_plain_cache_before_pins_and_the_latest_program_first() -> None:
    engine = SimEngine(tight(GPU, 300))
    for owner in (1, 2, 3):
        engine.acquire(owner, arrival=float(owner), prompt_tokens=100, footprint=100, now=0.0)
        engine.finish(owner, tokens=100, evict_to_host=False, now=float(owner))
    engine.park(1, KVDecision(action="pin", ttl_s=60.0), now=3.0)
    engine.park(2, KVDecision(action="keep"), now=3.0)
    engine.park(3, KVDecision(action="pin", ttl_s=60.0), now=3.0)
    engine.acquire(4, arrival=4.0, prompt_tokens=100, footprint=100, now=4.0)
    assert sorted(engine.caches) == [1, 3, 4]  # the plain cache went first
    engine.finish(4, tokens=100, evict_to_host=False, now=5.0)
    engine.park(4, KVDecision(action="pin", ttl_s=60.0), now=5.0)
    engine.acquire(5, arrival=5.0, prompt_tokens=100, footprint=100, now=6.0)
    assert sorted(engine.caches) == [1, 3, 5]  # then the pin of the latest program
    assert engine.caches[1].state == KVState.PINNED


def test_a_copy_to_host_frees_cells_only_when_it_ends_and_comes_back_over_the_link() -> None:
    engine = SimEngine(tight(GPU, 20_000))
    engine.acquire(1, arrival=0.0, prompt_tokens=10_000, footprint=10_000, now=0.0)
    engine.finish(1, tokens=10_000, evict_to_host=True, now=1.0)
    copy_s = GPU.copy_s(10_000)
    _, ready, _ = engine.acquire(2, arrival=1.0, prompt_tokens=15_000, footprint=15_000, now=1.0)
    assert ready == pytest.approx(1.0 + copy_s)  # it waits for the copy out
    assert engine.caches[1].state == KVState.SWAPPED and engine.swap_bytes == 10_000 * 131_072
    engine.finish(2, tokens=15_000, evict_to_host=False, now=2.0)
    engine.release(2)
    reused, ready, was_resident = engine.acquire(
        1, arrival=0.0, prompt_tokens=11_000, footprint=11_100, now=3.0
    )
    assert (reused, was_resident) == (10_000, False)
    assert ready == pytest.approx(3.0 + copy_s)  # and for the copy back
    assert engine.host_bytes == 0


def test_no_host_room_means_the_cache_is_dropped() -> None:
    engine = SimEngine(tight(GPU, 20_000).model_copy(update={"host_kv_bytes": 1e6}))
    engine.acquire(1, arrival=0.0, prompt_tokens=10_000, footprint=10_000, now=0.0)
    engine.finish(1, tokens=10_000, evict_to_host=True, now=1.0)
    engine.park(1, KVDecision(action="swap", evict_to_host=True), now=1.0)
    assert 1 not in engine.caches and engine.used == 0 and engine.swap_bytes == 0


def test_dropping_everything_is_slower_than_pinning_when_prefill_is_expensive() -> None:
    slow_prefill = GPU.model_copy(update={"flops_efficiency": 0.02})  # about 1,200 prefill tokens/s
    programs = generate_programs(SMALL, seed=1, rate=1.0)
    dropped = simulate(SMALL, slow_prefill, programs, "none", seed=1, rate=1.0)
    pinned = simulate(SMALL, slow_prefill, programs, "pin_inf", seed=1, rate=1.0)
    assert len(dropped.jct_s) == len(pinned.jct_s) == 30
    assert dropped.prefill_tokens > 3 * pinned.prefill_tokens
    assert dropped.jct_mean > 1.5 * pinned.jct_mean
    assert pinned.ttl_hit_rate == 1.0 and dropped.ttl_hit_rate == 0.0


def test_offloading_pays_the_link_when_hbm_is_short() -> None:
    programs = generate_programs(SMALL, seed=1, rate=1.0)
    short = tight(GPU, 120_000)
    fast = simulate(SMALL, short, programs, "lru_offload", seed=1, rate=1.0)
    slow_link = short.model_copy(update={"pcie_bytes_per_s": 0.2e9})
    slow = simulate(SMALL, slow_link, programs, "lru_offload", seed=1, rate=1.0)
    assert fast.swap_bytes > 0  # the cache did not hold every paused program
    assert slow.jct_mean > fast.jct_mean


def test_a_replay_is_deterministic_for_a_seed() -> None:
    one = simulate(SMALL, GPU, generate_programs(SMALL, seed=3, rate=1.0), "ours", seed=3, rate=1.0)
    again = simulate(SMALL, GPU, generate_programs(SMALL, seed=3, rate=1.0), "ours", seed=3, rate=1.0)
    other = simulate(SMALL, GPU, generate_programs(SMALL, seed=4, rate=1.0), "ours", seed=4, rate=1.0)
    assert one == again
    assert one.jct_s != other.jct_s


def test_the_report_ends_with_its_own_summary_line() -> None:
    params = SMALL.model_copy(update={"programs": 12, "policies": ("none", "lru_offload", "ours")})
    report = run_kv_simulation(params, "gpu")
    assert [r.policy for r in report.results] == ["none", "lru_offload", "ours"]
    assert re.fullmatch(
        r"sim_gpu jct_ours_vs_best_baseline=\d+\.\d\d jct_ours_vs_lru_offload=\d+\.\d\d", report.last_line()
    )
    lru, ours = report.results[1:]
    assert report.last_line().endswith(f"jct_ours_vs_lru_offload={ours.jct_mean / lru.jct_mean:.2f}")
    assert "| 1.0 | ours |" in report.markdown()


def test_a_trace_file_replays_as_given(tmp_path: Path) -> None:
    programs = generate_programs(SMALL.model_copy(update={"programs": 4}), seed=1, rate=2.0)
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(p.model_dump_json() + "\n" for p in programs))
    params = SMALL.model_copy(update={"trace": trace, "policies": ("continuum",), "programs": 99})
    (result,) = run_kv_simulation(params, "gpu").results
    assert len(result.jct_s) == 4
    assert result.returns == sum(len(p.turns) - 1 for p in programs)
    assert result.prefill_tokens >= sum(p.turns[0].prompt_tokens for p in programs)
