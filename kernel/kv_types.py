"""What the kernel and an engine say to each other about KV caches: costs, decisions and the cache's state.

A neutral module: the KV policies (kernel side) and the engines both import it, never each other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Calibration(BaseModel):
    """Costs of this machine and model, measured by the engine from its own work."""

    prefill_tokens_per_s: float
    swap_out_bytes_per_s: float
    swap_in_bytes_per_s: float
    kv_bytes_per_token: float

    def drop_cost_s(self, tokens: int) -> float:
        """Engine seconds to recompute a prefix of `tokens`."""
        return tokens / self.prefill_tokens_per_s

    def swap_cost_s(self, tokens: int) -> float:
        """Engine seconds to copy a prefix out to host memory and back."""
        size = tokens * self.kv_bytes_per_token
        return size / self.swap_out_bytes_per_s + size / self.swap_in_bytes_per_s


DEFAULT_CALIBRATION = Calibration(
    prefill_tokens_per_s=1000.0,
    swap_out_bytes_per_s=1e9,
    swap_in_bytes_per_s=1e9,
    kv_bytes_per_token=1.0,
)
"""Stand-in costs for engines that measure none (remote engines, test doubles)."""


class KVDecision(BaseModel):
    """What the kernel decided for a process's KV cache when it paused for a tool call."""

    model_config = ConfigDict(frozen=True)

    action: Literal["pin", "swap", "drop", "keep"]
    """pin: hold the cells for `ttl_s`; swap: copy to host memory now; drop: free now; keep: plain cache."""
    ttl_s: float = 0.0
    evict_to_host: bool = False
    """If the cells must be reclaimed later, swap them to host memory instead of dropping them."""
    tool: str | None = None
    predicted_gap_s: float | None = None
    """Expected time until the process's next LLM call (remote engines turn it into cache hints)."""
    program_id: int | None = None


class KVState(StrEnum):
    ACTIVE = "active"
    """A generation is using it."""
    CACHED = "cached"
    """Idle in engine cells; the first to go when room is needed (least recently used first)."""
    PINNED = "pinned"
    """Idle in engine cells and held until its deadline; reclaimed early only under pressure."""
    SWAPPED = "swapped"
    """Copied to host memory; its cells are free."""
    PREEMPTED = "preempted"
    """A generation paused by the scheduler; resumed exactly where it stopped."""
    RETAINED = "retained"
    """Its process ended; kept while room allows so later calls can start from its prefix."""
    DROPPED = "dropped"


class KVEntry(BaseModel):
    """One row of `aios kv`: what an engine holds for one process."""

    owner: int
    state: KVState
    tokens: int
    cells: int
    host_bytes: int
    deadline_in_s: float | None = None
