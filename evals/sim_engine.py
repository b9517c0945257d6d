"""The simulated GPU engine's KV cache: HBM cells, host memory and the host link between them.

It carries out the KV policies' decisions (pin / swap / drop / keep) and reclaims idle caches when a
starting call needs cells, in the local engine's order (`kernel/engines/kv_cache.py`): plain cache least
recently used first, then expired pins, then live pins of the latest program; to host memory if the
decision says so and the host has room, else dropped. Copies take bytes / link bandwidth, one at a time
per direction; a cache copied out gives its cells back when its copy ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from aios.evals.gpu_profile import GpuProfile
from aios.kernel.kv_types import KVDecision, KVState


@dataclass(eq=False, kw_only=True)
class SimCache:
    """One program's KV in the simulated engine."""

    owner: int
    arrival: float
    tokens: int = 0
    state: KVState = KVState.ACTIVE
    resident: bool = True
    """In HBM (its tokens count against capacity); else in host memory."""
    deadline: float | None = None
    pinned_since: float | None = None
    evict_to_host: bool = False
    last_used: float = 0.0
    on_host_at: float = 0.0
    """When its copy to host memory ends (a copy back cannot start before)."""


class SimEngine:
    """HBM cells, host memory and the host link: carries out KV decisions and reclaims idle caches."""

    def __init__(self, profile: GpuProfile) -> None:
        self.profile = profile
        self.capacity = profile.kv_capacity_tokens
        self.used = 0
        """Tokens held in HBM, including caches whose copy to host memory has not ended."""
        self.copies_out: list[tuple[float, int]] = []  # (end of copy, tokens it frees)
        self.host_bytes = 0.0
        self.to_host_free_at = 0.0
        self.to_device_free_at = 0.0
        self.caches: dict[int, SimCache] = {}  # pid -> cache
        self.swap_bytes = 0
        self.pinned_token_s = 0.0

    def settle(self, now: float) -> None:
        """Copies out that have ended give their cells back."""
        done = [c for c in self.copies_out if c[0] <= now]
        self.copies_out = [c for c in self.copies_out if c[0] > now]
        self.used -= sum(tokens for _, tokens in done)

    def pressure(self, now: float) -> float:
        self.settle(now)
        leaving = sum(tokens for _, tokens in self.copies_out)
        return (self.used - leaving) / self.capacity

    def acquire(
        self, owner: int, *, arrival: float, prompt_tokens: int, footprint: int, now: float
    ) -> tuple[int, float, bool]:
        """Make room for a starting call; returns (prompt tokens reused, when it may run, whether its cache
        was in HBM)."""
        cache = self.caches.get(owner)
        if cache is None:
            cache = self.caches[owner] = SimCache(owner=owner, arrival=arrival)
        was_resident = cache.resident and cache.tokens > 0
        if cache.state == KVState.PINNED:
            self._unpin(cache, now)
        reused = min(cache.tokens, prompt_tokens)
        extra = footprint - cache.tokens if cache.resident else footprint
        cache.state = KVState.ACTIVE
        ready = self._make_room(extra, now, keep=cache)
        if not cache.resident:
            start = max(ready, self.to_device_free_at, cache.on_host_at)
            ready = self.to_device_free_at = start + self.profile.copy_s(cache.tokens)
            self.host_bytes -= cache.tokens * self.profile.kv_bytes_per_token
            cache.resident = True
        self.used += extra
        cache.tokens = footprint
        return reused, ready, was_resident

    def finish(self, owner: int, *, tokens: int, evict_to_host: bool, now: float) -> None:
        """A generation ended: its cache holds `tokens` and stays as plain cache until it is parked."""
        cache = self.caches[owner]
        self.used -= cache.tokens - tokens
        cache.tokens, cache.state, cache.last_used, cache.evict_to_host = (
            tokens,
            KVState.CACHED,
            now,
            evict_to_host,
        )

    def park(self, owner: int, decision: KVDecision, now: float) -> None:
        cache = self.caches[owner]
        cache.evict_to_host = decision.evict_to_host
        if decision.action == "pin":
            cache.state, cache.deadline, cache.pinned_since = KVState.PINNED, now + decision.ttl_s, now
        elif decision.action == "swap":
            if not self._swap_out(cache, now):
                self._drop(cache)
        elif decision.action == "drop":
            self._drop(cache)

    def release(self, owner: int) -> None:
        cache = self.caches.get(owner)
        if cache is not None:
            self._drop(cache)

    def _make_room(self, extra: int, now: float, *, keep: SimCache) -> float:
        """Reclaim idle caches until `extra` more tokens fit once the copies out end; returns when they do."""
        self.settle(now)
        for cache in self.caches.values():
            if cache.state == KVState.PINNED and cache.deadline is not None and cache.deadline <= now:
                self._unpin(cache, now)
                cache.state = KVState.CACHED
        leaving = sum(tokens for _, tokens in self.copies_out)
        while self.used - leaving + extra > self.capacity:
            victim = self._victim(keep)
            assert victim is not None, (
                f"no idle cache to reclaim for {extra} tokens: the scheduler overcommitted"
            )
            self._evict(victim, now)
            leaving = sum(tokens for _, tokens in self.copies_out)
        short = self.used + extra - self.capacity
        for end, tokens in sorted(self.copies_out):
            if short <= 0:
                break
            short -= tokens
            now = end
        return now

    def _victim(self, keep: SimCache) -> SimCache | None:
        idle = [
            c
            for c in self.caches.values()
            if c.resident and c is not keep and c.state in (KVState.CACHED, KVState.PINNED) and c.tokens
        ]
        cached = [c for c in idle if c.state == KVState.CACHED]
        if cached:
            return min(cached, key=lambda c: c.last_used)
        return max(idle, key=lambda c: c.arrival) if idle else None

    def _evict(self, cache: SimCache, now: float) -> None:
        if cache.state == KVState.PINNED:
            self._unpin(cache, now)
        if not (cache.evict_to_host and self._swap_out(cache, now)):
            self._drop(cache)

    def _unpin(self, cache: SimCache, now: float) -> None:
        if cache.pinned_since is not None:
            self.pinned_token_s += cache.tokens * (now - cache.pinned_since)
        cache.pinned_since = cache.deadline = None

    def _swap_out(self, cache: SimCache, now: float) -> bool:
        """Start copying a resident cache to host memory; False when the host has no room."""
        size = cache.tokens * self.profile.kv_bytes_per_token
        if not cache.resident or not cache.tokens or self.host_bytes + size > self.profile.host_kv_bytes:
            return False
        start = max(now, self.to_host_free_at)
        end = self.to_host_free_at = start + self.profile.copy_s(cache.tokens)
        self.copies_out.append((end, cache.tokens))
        self.host_bytes += size
        self.swap_bytes += int(size)
        cache.resident, cache.state, cache.on_host_at = False, KVState.SWAPPED, end
        return True

    def _drop(self, cache: SimCache) -> None:
        if cache.resident:
            self.used -= cache.tokens
        else:
            self.host_bytes -= cache.tokens * self.profile.kv_bytes_per_token
        del self.caches[cache.owner]
