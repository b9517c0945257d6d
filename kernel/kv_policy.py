"""What to do with a process's KV cache while it waits on a tool: the time-to-live policies.

The kernel calls `decide` when a process that has used an engine starts a tool call; the engine carries
the decision out. Predictions come from `ToolDurations`; costs from the engine's calibration, measured on
this machine (prefill tokens/s, swap bytes/s).
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from dataclasses import dataclass

from aios.kernel.errors import ConfigError
from aios.kernel.kv_types import Calibration, KVDecision

FOREVER_S = 1e9


class _Window:
    """The latest `size` samples, kept both in arrival order and sorted (each record costs O(n) moves, each
    prediction no sort)."""

    def __init__(self, size: int) -> None:
        self.arrivals: deque[float] = deque(maxlen=size)
        self.ordered: list[float] = []

    def add(self, seconds: float) -> None:
        if len(self.arrivals) == self.arrivals.maxlen:
            del self.ordered[bisect.bisect_left(self.ordered, self.arrivals[0])]
        self.arrivals.append(seconds)
        bisect.insort(self.ordered, seconds)


class ToolDurations:
    """Per-tool empirical durations of the pause a tool call causes.

    A tool with fewer than `min_per_tool` records borrows the global distribution; with fewer than
    `min_global` records overall, an exponential prior with mean `prior_mean_s` stands in.
    """

    def __init__(
        self, *, min_per_tool: int = 5, min_global: int = 30, prior_mean_s: float = 1.0, window: int = 2000
    ) -> None:
        self.min_per_tool = min_per_tool
        self.min_global = min_global
        self.prior_mean_s = prior_mean_s
        self._tool_to_samples: dict[str, _Window] = defaultdict(lambda: _Window(window))
        self._global = _Window(window)

    def record(self, tool: str, seconds: float) -> None:
        self._tool_to_samples[tool].add(seconds)
        self._global.add(seconds)

    def count(self, tool: str | None = None) -> int:
        if tool is None:
            return len(self._global.ordered)
        own = self._tool_to_samples.get(tool)
        return len(own.ordered) if own is not None else 0

    def samples(self, tool: str) -> list[float] | None:
        """Sorted samples to predict `tool` from (read only), or None while the prior applies."""
        if len(self._global.ordered) < self.min_global:
            return None
        own = self._tool_to_samples.get(tool)
        chosen = own if own is not None and len(own.ordered) >= self.min_per_tool else self._global
        return chosen.ordered

    def cdf(self, tool: str, tau: float) -> float:
        """P(the process is back within tau seconds)."""
        data = self.samples(tool)
        if data is None:
            return 1.0 - math.exp(-max(tau, 0.0) / self.prior_mean_s)
        return bisect.bisect_right(data, tau) / len(data)

    def quantile(self, tool: str, q: float) -> float:
        data = self.samples(tool)
        if data is None:
            return -self.prior_mean_s * math.log(max(1e-9, 1.0 - q))
        return data[min(len(data) - 1, int(q * len(data)))]

    def candidates(self, tool: str) -> list[float]:
        """TTL candidates: 0 and the observed durations (prior quantiles while cold)."""
        data = self.samples(tool)
        if data is None:
            data = [self.quantile(tool, q / 20) for q in range(1, 20)]
        return [0.0, *data]

    def cdf_at_candidates(self, tool: str) -> list[tuple[float, float]]:
        """(tau, P(back within tau)) for every candidate in one pass over the sorted samples: called at
        every pause, it must not sort or search per candidate."""
        data = self.samples(tool)
        if data is None:
            return [(tau, self.cdf(tool, tau)) for tau in self.candidates(tool)]
        n = len(data)
        points = [(0.0, bisect.bisect_right(data, 0.0) / n)]
        for i, tau in enumerate(data):
            if i + 1 == n or data[i + 1] != tau:  # the last of equal samples counts them all
                points.append((tau, (i + 1) / n))
        return points


@dataclass(frozen=True, kw_only=True)
class Pause:
    """A process going off to a tool call, as the policy sees it."""

    pid: int
    tool: str
    tokens: int
    """Tokens of the process's cached prefix."""
    program_arrival: float
    pressure: float
    """Share of the engine's KV cells in use or reserved (0..1)."""
    queue_delay_s: float
    """Recent average queueing delay of LLM calls (Continuum's T)."""


class KVPolicy(ABC):
    """Decides pin / swap / drop / keep for one pause; called by the kernel at every tool call."""

    name: str
    offload_when_evicted: bool = False
    """A cache waiting for its decision (an LLM call just ended) goes to host memory, not away, if the
    engine needs its cells first."""

    @abstractmethod
    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision: ...


class DropPolicy(KVPolicy):
    """A plain serving stack: the cache is thrown away at every tool call."""

    name = "none"

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        return KVDecision(action="drop", tool=pause.tool)


class LruPolicy(KVPolicy):
    """Automatic prefix caching: kept until the space is needed, least recently used first."""

    name = "lru"

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        return KVDecision(action="keep", tool=pause.tool)


class LruOffloadPolicy(KVPolicy):
    """Offloading without prediction (vLLM's CPU offload, LMCache): kept until the space is needed, then
    copied to host memory, least recently used first, and brought back when the process returns."""

    name = "lru_offload"
    offload_when_evicted = True

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        return KVDecision(action="keep", evict_to_host=True, tool=pause.tool)


class PinForeverPolicy(KVPolicy):
    """Pinned until the process returns (reclaimed only under pressure)."""

    name = "pin_inf"

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        return KVDecision(action="pin", ttl_s=FOREVER_S, tool=pause.tool)


class FixedTTLPolicy(KVPolicy):
    """Pinned for a fixed time whatever the tool."""

    name = "ttl_fixed"

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        return KVDecision(action="pin", ttl_s=self.ttl_s, tool=pause.tool)


def best_ttl(pause: Pause, durations: ToolDurations, reload_s: float, *, eta: float) -> float:
    """The TTL tau maximising P(tau) * (T * eta + reload) - tau over the candidate durations."""
    gain = pause.queue_delay_s * eta + reload_s
    return max(durations.cdf_at_candidates(pause.tool), key=lambda point: point[1] * gain - point[0])[0]


class ContinuumPolicy(KVPolicy):
    """The published rule: per-tool TTL weighing the hold against re-prefill; dropped when reclaimed."""

    name = "continuum"

    def __init__(self, eta: float = 0.5) -> None:
        self.eta = eta

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        tau = best_ttl(pause, durations, costs.drop_cost_s(pause.tokens), eta=self.eta)
        if tau <= 0.0:
            return KVDecision(action="keep", tool=pause.tool)
        return KVDecision(action="pin", ttl_s=tau, tool=pause.tool)


class CostModelPolicy(KVPolicy):
    """Ours: choose per pause between pinning, swapping to host memory and dropping by expected cost.

    - Dropping costs a re-prefill (tokens / measured prefill rate) when the process returns.
    - Swapping costs a copy out and back (bytes / measured swap rates): milliseconds, where a re-prefill is
      seconds, so a reclaimed pin is swapped rather than dropped.
    - Pinning costs cells that others may need; it is worth it while the process is likely back before
      the cells are wanted. We pin for the TTL that the Continuum trade-off gives with the *swap* cost as
      the fallback, at least the predicted median gap; under high pressure a pause expected to outlast
      `swap_now_after_s` is swapped at once so its cells serve others.
    """

    name = "ours"
    offload_when_evicted = True

    def __init__(
        self, *, eta: float = 0.5, swap_now_after_s: float = 5.0, high_pressure: float = 0.85
    ) -> None:
        self.eta = eta
        self.swap_now_after_s = swap_now_after_s
        self.high_pressure = high_pressure

    def decide(self, pause: Pause, durations: ToolDurations, costs: Calibration) -> KVDecision:
        drop_s = costs.drop_cost_s(pause.tokens)
        swap_s = costs.swap_cost_s(pause.tokens)
        median_gap = durations.quantile(pause.tool, 0.5)
        common = {"tool": pause.tool, "predicted_gap_s": median_gap}
        if swap_s >= drop_s:
            tau = best_ttl(pause, durations, drop_s, eta=self.eta)
            return KVDecision(action="pin" if tau > 0 else "drop", ttl_s=tau, **common)
        if pause.pressure >= self.high_pressure and median_gap >= self.swap_now_after_s:
            return KVDecision(action="swap", evict_to_host=True, **common)
        tau = max(best_ttl(pause, durations, swap_s, eta=self.eta), durations.quantile(pause.tool, 0.9))
        return KVDecision(action="pin", ttl_s=tau, evict_to_host=True, **common)


KV_POLICIES: dict[str, type[KVPolicy]] = {
    p.name: p
    for p in (
        DropPolicy,
        LruPolicy,
        LruOffloadPolicy,
        PinForeverPolicy,
        FixedTTLPolicy,
        ContinuumPolicy,
        CostModelPolicy,
    )
}


def create_kv_policy(name: str) -> KVPolicy:
    try:
        return KV_POLICIES[name]()
    except KeyError:
        raise ConfigError(
            f"kv_policy: unknown KV policy {name!r}; choose one of {sorted(KV_POLICIES)}"
        ) from None
