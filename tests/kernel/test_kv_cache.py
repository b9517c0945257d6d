"""KV cache lifecycle logic with a stand-in backend that counts what llama.cpp would be asked to do."""

from __future__ import annotations

from typing import ClassVar

import pytest

from aios.kernel.engines.kv_cache import KVCache, KVState, Sequence


class FakeBackend:
    """Holds sequences as token lists; state bytes are 10 per token."""

    def __init__(self, n_ctx: int = 100, n_seq_max: int = 4) -> None:
        self.n_ctx = n_ctx
        self.n_seq_max = n_seq_max
        self.per_sequence_kv = False
        self.removed: list[tuple[int, int, int]] = []
        self.loaded: list[int] = []

    def seq_remove(self, seq_id: int, start: int, end: int = -1) -> None:
        self.removed.append((seq_id, start, end))

    def state_get(self, seq_id: int) -> bytes:
        return b"x" * 10 * self.sizes.get(seq_id, 0)

    def state_set(self, seq_id: int, data: bytes) -> bool:
        self.loaded.append(seq_id)
        return True

    sizes: ClassVar[dict[int, int]] = {}


def fill(cache: KVCache, owner: int, tokens: int, *, arrival: float = 0.0, now: float = 0.0) -> None:
    seq = cache.acquire(owner, arrival=arrival, now=now)
    assert seq is not None and seq.slot is not None
    seq.tokens = list(range(tokens))
    FakeBackend.sizes[seq.slot] = tokens
    cache.finish(seq, now)


def state(cache: KVCache, owner: int) -> KVState | None:
    return next((e.state for e in cache.entries(0.0) if e.owner == owner), None)


def test_pin_expires_into_plain_cache() -> None:
    cache = KVCache(FakeBackend(), swap_budget_bytes=10_000)
    fill(cache, 1, 10)
    cache.park(1, "pin", now=0.0, ttl_s=2.0)
    assert state(cache, 1) == KVState.PINNED
    cache.expire(1.0)
    assert state(cache, 1) == KVState.PINNED
    cache.expire(2.5)
    assert state(cache, 1) == KVState.CACHED
    assert cache.stats.pinned_cell_seconds == pytest.approx(10 * 2.5)


def test_return_within_ttl_is_a_hit_and_keeps_the_cells() -> None:
    cache = KVCache(FakeBackend(), swap_budget_bytes=10_000)
    fill(cache, 1, 10)
    cache.park(1, "pin", now=0.0, ttl_s=5.0)
    seq = cache.acquire(1, arrival=0.0, now=1.0)
    assert seq is not None and len(seq.tokens) == 10 and seq.state == KVState.ACTIVE
    assert cache.stats.ttl_hits == 1


def test_pressure_reclaims_cached_first_then_pins_of_the_latest_program() -> None:
    backend = FakeBackend(n_ctx=100, n_seq_max=8)
    cache = KVCache(backend, swap_budget_bytes=0)
    fill(cache, 1, 30, arrival=1.0)
    fill(cache, 2, 30, arrival=2.0)
    fill(cache, 3, 30, arrival=3.0)
    cache.park(1, "pin", now=0.0, ttl_s=100)
    cache.park(2, "pin", now=0.0, ttl_s=100)
    # process 3 stays plain cache: it goes first
    newcomer = cache.acquire(4, arrival=4.0, now=1.0)
    assert newcomer is not None
    assert cache.make_room(30, now=1.0, keep=newcomer, reserved=0)
    assert state(cache, 3) is None and state(cache, 1) == state(cache, 2) == KVState.PINNED
    # more pressure: the pin of the later program (2) is reclaimed before the earlier one (1)
    assert cache.make_room(60, now=1.0, keep=newcomer, reserved=0)
    assert state(cache, 2) is None and state(cache, 1) == KVState.PINNED
    assert cache.stats.pressure_reclaims == 1
    # nothing left to give: the answer is no, not an exception
    assert not cache.make_room(101, now=1.0, keep=newcomer, reserved=0)
    assert cache.entries(1.0)[0].owner == 4


def test_reclaimed_pins_go_to_host_memory_within_the_budget() -> None:
    backend = FakeBackend(n_ctx=100, n_seq_max=8)
    cache = KVCache(backend, swap_budget_bytes=450)
    fill(cache, 1, 40, arrival=1.0)
    fill(cache, 2, 40, arrival=2.0)
    cache.park(1, "pin", now=0.0, ttl_s=100, evict_to_host=True)
    cache.park(2, "pin", now=0.0, ttl_s=100, evict_to_host=True)
    newcomer = cache.acquire(3, arrival=3.0, now=1.0)
    assert newcomer is not None
    assert cache.make_room(60, now=1.0, keep=newcomer, reserved=0)
    assert state(cache, 2) == KVState.SWAPPED  # 400 bytes fit the budget
    assert cache.host_bytes == 400
    assert cache.make_room(100, now=1.0, keep=newcomer, reserved=0)
    assert state(cache, 1) is None  # another 400 would not fit: dropped
    # the swapped process comes back: loaded into a free sequence with its tokens intact
    back = cache.acquire(2, arrival=2.0, now=2.0)
    assert back is not None and len(back.tokens) == 40 and back.slot in backend.loaded
    assert cache.stats.ttl_misses == 1 and cache.stats.swap_in_bytes == 400 and cache.host_bytes == 0


def test_swap_and_drop_on_park_and_release() -> None:
    cache = KVCache(FakeBackend(), swap_budget_bytes=1000)
    fill(cache, 1, 10)
    fill(cache, 2, 10)
    cache.park(1, "swap", now=0.0)
    cache.park(2, "drop", now=0.0)
    assert state(cache, 1) == KVState.SWAPPED and state(cache, 2) is None
    assert cache.used_cells == 0 and cache.host_bytes == 100
    cache.release(1)
    assert cache.entries(0.0) == [] and cache.host_bytes == 0


def paused_then_crowded_out(cache: KVCache) -> tuple[Sequence, Sequence]:
    """A paused 50-token generation, then another process that needs 90 of the 100 cells."""
    seq = cache.acquire(1, arrival=0.0, now=0.0)
    assert seq is not None and seq.slot is not None
    seq.tokens = list(range(50))
    FakeBackend.sizes[seq.slot] = 50
    cache.preempt(seq, 0.0)
    other = cache.acquire(2, arrival=1.0, now=0.0)
    assert other is not None
    assert cache.make_room(90, now=0.0, keep=other, reserved=0)
    return seq, other


def test_preempted_sequences_go_to_host_memory_when_room_is_needed() -> None:
    cache = KVCache(FakeBackend(n_ctx=100, n_seq_max=4), swap_budget_bytes=10_000)
    seq, other = paused_then_crowded_out(cache)
    assert seq.state == KVState.PREEMPTED and seq.slot is None and seq.host is not None
    cache.finish(other, 0.0)
    assert cache.resume(seq, 1.0)
    assert seq.state == KVState.ACTIVE and len(seq.tokens) == 50 and seq.host is None


def test_a_preempted_sequence_lost_for_want_of_host_memory_is_reported_for_recomputing() -> None:
    cache = KVCache(FakeBackend(n_ctx=100, n_seq_max=4), swap_budget_bytes=100)  # 50 tokens need 500 bytes
    seq, _ = paused_then_crowded_out(cache)
    assert seq.state == KVState.DROPPED
    assert not cache.resume(seq, 1.0)  # the engine recomputes it from the generation's tokens


def test_per_sequence_streams_bound_each_sequence_not_the_sum() -> None:
    backend = FakeBackend(n_ctx=400, n_seq_max=4)
    backend.per_sequence_kv = True  # 100 cells per stream
    cache = KVCache(backend, swap_budget_bytes=0)
    fill(cache, 1, 90)
    fill(cache, 2, 90)
    seq = cache.acquire(3, arrival=0.0, now=0.0)
    assert seq is not None
    assert cache.make_room(100, now=0.0, keep=seq, reserved=10_000)  # others' cells do not count
    assert state(cache, 1) == state(cache, 2) == KVState.CACHED
    assert not cache.make_room(101, now=0.0, keep=seq, reserved=0)
