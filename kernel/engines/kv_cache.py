"""The engine's KV cache as the kernel sees it: one sequence per process, pinned, cached, swapped or dropped.

All methods run on the engine thread. The cache never decides *what a pause deserves* (that is the kernel's
KV policy); it carries out `park` decisions and chooses victims when cells or sequence slots run out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from aios.kernel.engines.cell_runs import CellRuns, distinct_cells, exclusive_counts
from aios.kernel.engines.configs import PrefixSharing
from aios.kernel.engines.prefix_sharing import RETAIN_S, may_share, text_prefix
from aios.kernel.kv_types import KVEntry, KVState

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """What the cache needs from llama.cpp (LlamaRuntime provides it)."""

    n_ctx: int
    n_seq_max: int
    per_sequence_kv: bool
    """Each sequence has its own stream of cells: only sequence slots are shared, not cells."""

    def seq_remove(self, seq_id: int, start: int, end: int = -1) -> None: ...
    def seq_copy(self, src: int, dst: int, end: int) -> None: ...
    def state_get(self, seq_id: int) -> bytes: ...
    def state_set(self, seq_id: int, data: bytes) -> bool: ...


@dataclass(eq=False, kw_only=True)
class Sequence:
    """One process's cached conversation; `tokens` mirrors exactly what its KV holds (resident or on host)."""

    owner: int
    slot: int | None = None
    tokens: list[int] = field(default_factory=list)
    state: KVState = KVState.CACHED
    deadline: float | None = None
    host: bytes | None = None
    evict_to_host: bool = False
    """Under pressure, swap this sequence out instead of dropping it."""
    last_used: float = 0.0
    arrival: float = 0.0
    """When the owning program arrived; under pressure pins of later programs go first."""
    pinned_since: float | None = None
    scope: str | None = None
    """Whose prompts it holds (the owning user): prefixes are shared only within one scope."""
    prompt_tokens: int = 0
    """Tokens of the prompt of its latest call (what it keeps when its process ends)."""
    cells: CellRuns = field(default_factory=CellRuns)
    """Which cells its tokens live in (shared ones after a prefix copy count once)."""


class KVStats(BaseModel):
    """What the KV lifecycle did; the KV benchmark reads these."""

    ttl_hits: int = 0
    """Returns that found their sequence still pinned."""
    ttl_misses: int = 0
    """Returns that found their sequence swapped or dropped."""
    swap_out_bytes: int = 0
    swap_in_bytes: int = 0
    swap_out_s: float = 0.0
    swap_in_s: float = 0.0
    pinned_cell_seconds: float = 0.0
    evictions: int = 0
    pressure_reclaims: int = 0
    """Pins taken back before their deadline because room was needed."""
    prefix_copies: int = 0
    """Calls started from another sequence's prefix instead of prefilling it."""
    prefix_tokens_copied: int = 0


class KVCache:
    """Sequences by owner, the free llama.cpp sequence ids, and the host swap space."""

    def __init__(self, backend: Backend, *, swap_budget_bytes: int, share: PrefixSharing = "none") -> None:
        self.backend = backend
        self.swap_budget_bytes = swap_budget_bytes
        self.share = share
        self._free_slots = list(range(backend.n_seq_max - 1, -1, -1))
        self._sequences: list[Sequence] = []
        self.stats = KVStats()

    # ---- views -------------------------------------------------------------------------------------

    @property
    def used_cells(self) -> int:
        resident = [s for s in self._sequences if s.slot is not None]
        if self.backend.per_sequence_kv:
            return sum(len(s.tokens) for s in resident)
        return distinct_cells([(s.cells, len(s.tokens)) for s in resident])

    @property
    def host_bytes(self) -> int:
        return sum(len(s.host) for s in self._sequences if s.host is not None)

    def find(self, owner: int) -> Sequence | None:
        """The owner's idle sequence, if any (what an ended process left is a prefix for others only)."""
        for seq in self._sequences:
            if seq.owner == owner and seq.state not in (KVState.ACTIVE, KVState.PREEMPTED, KVState.RETAINED):
                return seq
        return None

    def entries(self, now: float) -> list[KVEntry]:
        """One row per sequence; a cell shared by several counts for the first, so the cells sum to
        what is in use."""
        held = [(s.cells, len(s.tokens) if s.slot is not None else 0) for s in self._sequences]
        cells = [n for _, n in held] if self.backend.per_sequence_kv else exclusive_counts(held)
        return [
            KVEntry(
                owner=s.owner,
                state=s.state,
                tokens=len(s.tokens),
                cells=n,
                host_bytes=len(s.host or b""),
                deadline_in_s=None if s.deadline is None else round(s.deadline - now, 3),
            )
            for s, n in zip(self._sequences, cells, strict=True)
        ]

    # ---- the lifecycle -----------------------------------------------------------------------------

    def acquire(self, owner: int, *, arrival: float, now: float, reserved: int = 0) -> Sequence | None:
        """Make the owner's sequence resident and active (swapping it in if needed); None if no sequence
        slot can be had (every slot is held by a running generation)."""
        seq = self.find(owner)
        if seq is not None and seq.state == KVState.PINNED:
            self.stats.ttl_hits += 1
            self._unpin(seq, now)
        elif seq is not None and seq.state == KVState.SWAPPED:
            self.stats.ttl_misses += 1
        if seq is None or seq.slot is None:
            slot = self._take_slot(now, keep=seq)
            if slot is None:
                return None
            if seq is None:
                seq = Sequence(owner=owner, arrival=arrival)
                self._sequences.append(seq)
            if not self._place(seq, slot, now, reserved):
                # its cells do not fit beside the running ones: it starts over from nothing
                seq.host, seq.tokens = None, []
                seq.slot = self._free_slots.pop()  # the slot _place gave back
        seq.state = KVState.ACTIVE
        seq.deadline = None
        seq.last_used = now
        return seq

    def finish(self, seq: Sequence, now: float, *, drop: bool = False) -> None:
        """A generation ended: the sequence stays cached until the kernel parks it (or is dropped)."""
        seq.last_used = now
        if drop:
            self._drop(seq)
        else:
            seq.state = KVState.CACHED

    def preempt(self, seq: Sequence, now: float) -> None:
        """Hold a paused generation's sequence; if room is needed it goes to host memory (dropped only when
        the swap budget is full, and then recomputed on resume)."""
        seq.state = KVState.PREEMPTED
        seq.evict_to_host = True
        seq.last_used = now

    def resume(self, seq: Sequence, now: float, *, reserved: int = 0) -> bool:
        """Make a preempted sequence resident and active again; False if it was lost (dropped because the
        swap budget had no room), in which case the caller recomputes it."""
        if seq.state == KVState.DROPPED:
            return False
        if seq.slot is None:
            slot = self._take_slot(now, keep=seq)
            if slot is None or not self._place(seq, slot, now, reserved):
                raise RuntimeError(f"no sequence slot or cells to resume pid {seq.owner}")
        seq.state = KVState.ACTIVE
        seq.last_used = now
        return True

    def park(
        self, owner: int, action: str, *, now: float, ttl_s: float = 0.0, evict_to_host: bool = False
    ) -> None:
        """Carry out the kernel's decision for a paused process: pin, swap, drop or keep (plain cache)."""
        seq = self.find(owner)
        if seq is None:
            return
        seq.evict_to_host = evict_to_host
        if action == "pin" and seq.slot is not None:
            seq.state = KVState.PINNED
            seq.deadline = now + ttl_s
            seq.pinned_since = now
        elif action == "swap" and seq.slot is not None:
            if not self._swap_out(seq):
                self._drop(seq)
        elif action == "drop":
            self._drop(seq)

    def expire(self, now: float) -> None:
        """Pins past their deadline become plain cache entries; retained prefixes past theirs go."""
        for seq in list(self._sequences):
            if seq.deadline is None or seq.deadline > now:
                continue
            if seq.state == KVState.PINNED:
                self._unpin(seq, now)
                seq.state = KVState.CACHED
            elif seq.state == KVState.RETAINED:
                self._drop(seq)

    def release(self, owner: int, now: float = 0.0) -> None:
        """The process ended: its resident cache stays as a prefix for others while room allows (when
        prefixes are shared); everything else of it is freed."""
        for seq in [s for s in self._sequences if s.owner == owner and s.state != KVState.ACTIVE]:
            if seq.slot is None or not seq.tokens or not may_share(self.share, seq.scope, seq.scope):
                self._drop(seq)
                continue
            if seq.state == KVState.PINNED:
                self._unpin(seq, now)
            # its last reply is rarely the start of another prompt; every idle cell costs each decode of
            # the shared cache some attention time, so only the prompt is kept, and only for a while
            self.trim(seq, min(len(seq.tokens), seq.prompt_tokens))
            if not seq.tokens:
                self._drop(seq)
                continue
            seq.host, seq.evict_to_host, seq.deadline = None, False, now + RETAIN_S
            seq.state = KVState.RETAINED

    def share_prefix(self, seq: Sequence, prompt: list[int], *, min_gain: int) -> int:
        """Extend a resident sequence (holding a prefix of `prompt`) with the longest prefix of `prompt`
        that another sequence of its scope holds, by copying cells; returns the tokens it now holds."""
        assert seq.slot is not None, "prefix copy into a sequence that is not resident"
        held = len(seq.tokens)
        donor, length = self._donor(seq, prompt)
        if donor is None or length - held < min_gain:
            return held
        assert donor.slot is not None
        self.trim(seq, 0)
        if self.backend.per_sequence_kv:
            # each sequence has its own stream: copy the donor's state over, then cut it to the prefix
            if not self.backend.state_set(seq.slot, self.backend.state_get(donor.slot)):
                self.backend.seq_remove(seq.slot, 0, -1)
                return 0
            self.backend.seq_remove(seq.slot, length, -1)
        else:
            self.backend.seq_copy(donor.slot, seq.slot, length)
            seq.cells.inherit(donor.cells, len(donor.tokens), length)
        seq.tokens = donor.tokens[:length]
        self.stats.prefix_copies += 1
        self.stats.prefix_tokens_copied += length
        return length

    def _donor(self, seq: Sequence, prompt: list[int]) -> tuple[Sequence | None, int]:
        """The resident sequence of the same scope holding the longest text prefix of `prompt` (all but
        its last token, whose logits the call needs)."""
        best, best_length = None, 0
        for other in self._sequences:
            if other is seq or other.slot is None or not may_share(self.share, seq.scope, other.scope):
                continue
            length = text_prefix(other.tokens, prompt, len(prompt) - 1)
            if length > best_length:
                best, best_length = other, length
        return best, best_length

    def make_room(self, cells: int, *, now: float, keep: Sequence, reserved: int) -> bool:
        """Free cells until `cells` more fit beside `reserved` ones; False if nothing more can go."""
        if self.backend.per_sequence_kv:
            return len(keep.tokens) + cells <= self.backend.n_ctx // self.backend.n_seq_max
        while self.used_cells + reserved + cells > self.backend.n_ctx:
            victim = self._victim(now, keep=keep)
            if victim is None:
                return False
            self._evict(victim, now)
        return True

    def evict_one(self, now: float) -> bool:
        """Free one victim's cells (after llama.cpp found no room); False if nothing can go."""
        victim = self._victim(now, keep=None)
        if victim is None:
            return False
        self._evict(victim, now)
        return True

    def trim(self, seq: Sequence, keep_tokens: int) -> None:
        """Cut a resident sequence to its first `keep_tokens` tokens."""
        assert seq.slot is not None, "trim of a sequence that is not resident"
        if keep_tokens < len(seq.tokens):
            self.backend.seq_remove(seq.slot, keep_tokens, -1)
            seq.cells.trim(keep_tokens, len(seq.tokens))
            del seq.tokens[keep_tokens:]

    # ---- internals -----------------------------------------------------------------------------------

    def _take_slot(self, now: float, *, keep: Sequence | None) -> int | None:
        if not self._free_slots:
            victim = self._victim(now, keep=keep)
            if victim is None:
                return None
            self._evict(victim, now)
        return self._free_slots.pop() if self._free_slots else None

    def _victim(self, now: float, *, keep: Sequence | None) -> Sequence | None:
        """Prefixes of ended processes first, then cached (each least recently used first), then expired
        pins, then live pins of the latest program, then preempted generations (to host memory if the
        budget allows)."""
        resident = [s for s in self._sequences if s.slot is not None and s is not keep]
        for state in (KVState.RETAINED, KVState.CACHED):
            idle = [s for s in resident if s.state == state]
            if idle:
                return min(idle, key=lambda s: s.last_used)
        pinned = [s for s in resident if s.state == KVState.PINNED]
        if pinned:
            expired = [s for s in pinned if s.deadline is not None and s.deadline <= now]
            if expired:
                return min(expired, key=lambda s: s.deadline or 0.0)
            self.stats.pressure_reclaims += 1
            return max(pinned, key=lambda s: s.arrival)
        preempted = [s for s in resident if s.state == KVState.PREEMPTED]
        return max(preempted, key=lambda s: s.arrival) if preempted else None

    def _place(self, seq: Sequence, slot: int, now: float, reserved: int) -> bool:
        """Give a sequence a slot and, if it waits in host memory, swap it in once its cells fit;
        False (slot given back) if they cannot be made to fit."""
        seq.slot = slot
        if seq.host is None:
            return True
        state = seq.state
        seq.state = KVState.ACTIVE  # not a victim of its own make_room
        # with its slot assigned, its tokens already count in used_cells
        if not self.make_room(0, now=now, keep=seq, reserved=reserved):
            seq.state = state
            self._free_slots.append(slot)
            seq.slot = None
            return False
        seq.state = state
        self._swap_in(seq)
        return True

    def _evict(self, seq: Sequence, now: float) -> None:
        self.stats.evictions += 1
        if seq.state == KVState.PINNED:
            self._unpin(seq, now)
        if seq.evict_to_host and self._swap_out(seq):
            return
        self._drop(seq)

    def _unpin(self, seq: Sequence, now: float) -> None:
        if seq.pinned_since is not None:
            self.stats.pinned_cell_seconds += len(seq.tokens) * (now - seq.pinned_since)
            seq.pinned_since = None
        seq.deadline = None

    def _swap_out(self, seq: Sequence) -> bool:
        """Copy to host memory and free the cells; False when the swap budget has no room."""
        assert seq.slot is not None, "swap-out of a sequence that is not resident"
        if not seq.tokens:
            self._drop(seq)
            return True
        started = time.perf_counter()
        data = self.backend.state_get(seq.slot)
        if self.host_bytes + len(data) > self.swap_budget_bytes:
            return False
        self.stats.swap_out_s += time.perf_counter() - started
        self.stats.swap_out_bytes += len(data)
        seq.host = data
        self._release_slot(seq)
        if seq.state != KVState.PREEMPTED:
            seq.state = KVState.SWAPPED
        return True

    def _swap_in(self, seq: Sequence) -> None:
        assert seq.slot is not None and seq.host is not None, "swap-in needs a slot and host data"
        started = time.perf_counter()
        ok = self.backend.state_set(seq.slot, seq.host)
        self.stats.swap_in_s += time.perf_counter() - started
        self.stats.swap_in_bytes += len(seq.host)
        seq.host = None
        if not ok:
            logger.warning("swap-in of pid %s failed; its prefix will be recomputed", seq.owner)
            self.backend.seq_remove(seq.slot, 0, -1)
            seq.tokens = []

    def _release_slot(self, seq: Sequence) -> None:
        assert seq.slot is not None
        self.backend.seq_remove(seq.slot, 0, -1)
        seq.cells.reset()
        self._free_slots.append(seq.slot)
        seq.slot = None

    def _drop(self, seq: Sequence) -> None:
        if seq.slot is not None:
            self._release_slot(seq)
        seq.host = None
        seq.tokens = []
        seq.state = KVState.DROPPED
        self._sequences.remove(seq)
