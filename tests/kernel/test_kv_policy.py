"""Tool-duration prediction and the pin / swap / drop decisions, on hand-built inputs."""

from __future__ import annotations

import pytest

from aios.kernel.errors import ConfigError
from aios.kernel.kv_policy import (
    ContinuumPolicy,
    CostModelPolicy,
    DropPolicy,
    FixedTTLPolicy,
    LruOffloadPolicy,
    LruPolicy,
    Pause,
    PinForeverPolicy,
    ToolDurations,
    best_ttl,
    create_kv_policy,
)
from aios.kernel.kv_types import Calibration

COSTS = Calibration(
    prefill_tokens_per_s=400.0, swap_out_bytes_per_s=8e8, swap_in_bytes_per_s=1.6e9, kv_bytes_per_token=23_000
)


def pause(tool: str = "shell.exec", *, tokens: int = 1000, pressure: float = 0.5) -> Pause:
    return Pause(pid=1, tool=tool, tokens=tokens, program_arrival=0.0, pressure=pressure, queue_delay_s=0.5)


def test_durations_fall_back_from_tool_to_global_to_prior() -> None:
    d = ToolDurations(min_per_tool=3, min_global=5, prior_mean_s=2.0)
    assert d.samples("a") is None
    assert d.cdf("a", 2.0) == pytest.approx(0.632, abs=0.01)  # exponential prior
    for x in (1.0, 1.0, 1.0, 9.0, 9.0):
        d.record("b", x)
    assert d.samples("a") == [1.0, 1.0, 1.0, 9.0, 9.0]  # too few of its own: the global one
    for x in (0.1, 0.2, 0.3):
        d.record("a", x)
    assert d.samples("a") == [0.1, 0.2, 0.3]
    assert d.cdf("a", 0.25) == pytest.approx(2 / 3)
    assert d.quantile("a", 0.5) == 0.2
    assert d.candidates("a") == [0.0, 0.1, 0.2, 0.3]


def test_baseline_policies() -> None:
    d = ToolDurations()
    assert DropPolicy().decide(pause(), d, COSTS).action == "drop"
    assert LruPolicy().decide(pause(), d, COSTS).action == "keep"
    offload = LruOffloadPolicy().decide(pause(), d, COSTS)
    assert (offload.action, offload.evict_to_host) == ("keep", True)  # to host memory only when evicted
    assert PinForeverPolicy().decide(pause(), d, COSTS).ttl_s >= 1e8
    fixed = FixedTTLPolicy().decide(pause(), d, COSTS)
    assert (fixed.action, fixed.ttl_s) == ("pin", 2.0)


def test_continuum_pins_for_the_ttl_that_pays_and_not_for_hopeless_waits() -> None:
    d = ToolDurations(min_per_tool=1, min_global=1)
    for x in (0.5, 0.6, 0.7, 0.8, 60.0):
        d.record("fast", x)
    decision = ContinuumPolicy().decide(pause("fast"), d, COSTS)
    assert decision.action == "pin" and decision.ttl_s == 0.8  # covers 80% of returns, not the 60 s outlier
    slow = ToolDurations(min_per_tool=1, min_global=1)
    for x in (100.0, 200.0, 300.0):
        slow.record("slow", x)
    assert ContinuumPolicy().decide(pause("slow"), slow, COSTS).action == "keep"


def test_ours_prefers_host_memory_to_recomputation() -> None:
    d = ToolDurations(min_per_tool=1, min_global=1)
    for x in (20.0, 25.0, 30.0):
        d.record("browser.open", x)
    calm = CostModelPolicy().decide(pause("browser.open", pressure=0.2), d, COSTS)
    assert calm.action == "pin" and calm.evict_to_host and calm.ttl_s >= 25.0
    crowded = CostModelPolicy().decide(pause("browser.open", pressure=0.95), d, COSTS)
    assert crowded.action == "swap"
    # a machine where copying is dearer than recomputing: never swap
    slow_copy = COSTS.model_copy(update={"swap_out_bytes_per_s": 1e3, "swap_in_bytes_per_s": 1e3})
    assert CostModelPolicy().decide(pause("browser.open", pressure=0.95), d, slow_copy).action in (
        "pin",
        "drop",
    )


def test_unknown_kv_policy_is_a_config_error() -> None:
    assert create_kv_policy("continuum").name == "continuum"
    with pytest.raises(ConfigError, match="unknown KV policy"):
        create_kv_policy("magic")


def test_the_window_keeps_the_latest_samples_sorted() -> None:
    d = ToolDurations(min_per_tool=1, min_global=1, window=4)
    for x in (5.0, 1.0, 3.0, 1.0, 2.0, 9.0):
        d.record("t", x)
    assert d.samples("t") == [1.0, 2.0, 3.0, 9.0]  # 5.0 and the first 1.0 fell out, oldest first
    assert d.count("t") == d.count() == 4 and d.count("other") == 0


def test_cdf_at_candidates_matches_the_cdf_and_best_ttl_is_unchanged() -> None:
    d = ToolDurations(min_per_tool=1, min_global=1)
    for x in (0.0, 0.5, 0.5, 0.7, 2.0, 2.0, 2.0, 60.0):
        d.record("t", x)
    points = d.cdf_at_candidates("t")
    assert [tau for tau, _ in points] == [0.0, 0.0, 0.5, 0.7, 2.0, 60.0]
    assert all(p == d.cdf("t", tau) for tau, p in points)
    brute = max(d.candidates("t"), key=lambda tau: d.cdf("t", tau) * 5.0 - tau)
    assert best_ttl(pause("t"), d, 5.0 - 0.5 * 0.5, eta=0.5) == brute == 2.0
    cold = ToolDurations()
    assert [tau for tau, _ in cold.cdf_at_candidates("t")] == cold.candidates("t")  # the prior's quantiles
