"""The local engine's thread: it owns the llama.cpp context and advances every running generation together.

It decides nothing about who runs: the kernel's scheduler starts, continues and pauses generations, and
this loop carries that out, one `llama_decode` per step (decode tokens first, then prefill chunks).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aios.kernel.engines.batching import build_batch
from aios.kernel.engines.calibration import CalibrationMeter
from aios.kernel.engines.configs import PrefixSharing
from aios.kernel.engines.engine_stats import EngineStats
from aios.kernel.engines.generation import Generation, common_prefix, stop_index
from aios.kernel.engines.interface import Yielded
from aios.kernel.engines.kv_cache import KVCache
from aios.kernel.engines.llama_runtime import LlamaRuntime
from aios.kernel.engines.prefix_sharing import MIN_COPY_TOKENS, leader_done, prefill_leader
from aios.kernel.errors import AiosError, ContextOverflow, EngineError
from aios.kernel.kv_types import KVDecision, KVEntry

logger = logging.getLogger(__name__)

STREAM_EVERY = 8
"""Generated tokens between two pieces of streamed text (an event each: fewer is smoother, more cheaper)."""

IDLE_TICK_S = 0.5
"""How often an idle engine wakes to expire pins and refresh its KV snapshot."""
SNAPSHOT_EVERY_S = 0.25
"""How stale `aios kv` may be while generations run."""


@dataclass(frozen=True)
class _Command:
    kind: Literal["start", "resume", "park", "release", "call", "wake", "stop"]
    generation: Generation | None = None
    owner: int = 0
    decision: KVDecision | None = None
    function: Callable[[], None] | None = None


class DecodeLoop:
    """Runs on one thread for the engine's lifetime; every other thread talks to it through `send`."""

    def __init__(
        self,
        runtime: LlamaRuntime,
        *,
        model_name: str,
        swap_budget_bytes: int,
        meter: CalibrationMeter,
        share: PrefixSharing = "none",
    ) -> None:
        self.runtime = runtime
        self.model_name = model_name
        self.kv = KVCache(runtime, swap_budget_bytes=swap_budget_bytes, share=share)
        self.meter = meter
        self.stats = EngineStats()
        self._inbox: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._running: list[Generation] = []
        self._paused: dict[int, Generation] = {}  # key -> generation that yielded, kept for `resume`
        self._waiting: list[tuple[Generation, Generation, int]] = []
        """(generation, leader, tokens): calls waiting for the leader's prefill of their prefix."""
        self._snapshot: list[KVEntry] = []
        self._snapshot_at = 0.0
        self._swap_seen = (0, 0.0, 0, 0.0)

    # ---- other threads -----------------------------------------------------------------------------

    def send(self, command: _Command) -> None:
        self._inbox.put(command)

    def start(self, generation: Generation) -> None:
        self.send(_Command("start", generation=generation))

    def resume(self, generation: Generation) -> None:
        self.send(_Command("resume", generation=generation))

    def park(self, owner: int, decision: KVDecision) -> None:
        self.send(_Command("park", owner=owner, decision=decision))

    def release(self, owner: int) -> None:
        self.send(_Command("release", owner=owner))

    def call(self, function: Callable[[], None]) -> None:
        """Run `function` on the engine thread between steps (tests probe llama.cpp this way)."""
        self.send(_Command("call", function=function))

    def wake(self) -> None:
        """Look at cancellations now rather than at the next step."""
        self.send(_Command("wake"))

    def stop(self) -> None:
        self.send(_Command("stop"))

    def snapshot(self) -> list[KVEntry]:
        return list(self._snapshot)

    # ---- the engine thread -------------------------------------------------------------------------

    def run_forever(self) -> None:
        while True:
            idle = not self._running and not self._waiting
            try:
                command = self._inbox.get(timeout=IDLE_TICK_S) if idle else self._inbox.get_nowait()
            except queue.Empty:
                command = None
            if command is not None:
                if command.kind == "stop":
                    break
                self._handle(command)
                continue
            try:
                self._drop_cancelled()
                now = time.monotonic()
                self.kv.expire(now)
                self._admit_waiting()
                if self._running:
                    self._step()
            except Exception as e:
                # a bug must not hang every caller: fail what is in flight, drop its KV, keep serving
                logger.exception("engine step failed")
                for generation in list(self._running):
                    self._fail(generation, EngineError(f"engine step failed: {type(e).__name__}: {e}"))
            self._observe_swaps()
            self._refresh_snapshot(force=idle)
        for generation in [*self._running, *self._paused.values(), *(w[0] for w in self._waiting)]:
            self._fail(generation, EngineError("engine stopped"))
        self.meter.save()

    def _handle(self, command: _Command) -> None:
        if command.kind in ("start", "resume"):
            generation = command.generation
            assert generation is not None
            try:
                if command.kind == "start":
                    self._start(generation)
                else:
                    self._resume(generation)
            except AiosError as e:
                self._fail(generation, e)
            except Exception as e:
                logger.exception("engine: could not admit pid %d", generation.owner)
                self._fail(generation, EngineError(f"could not admit the call: {type(e).__name__}: {e}"))
        elif command.kind == "park":
            assert command.decision is not None
            decision = command.decision
            self.kv.park(
                command.owner,
                decision.action,
                now=time.monotonic(),
                ttl_s=decision.ttl_s,
                evict_to_host=decision.evict_to_host,
            )
        elif command.kind == "release":
            self._release(command.owner)
        elif command.kind == "call":
            assert command.function is not None
            command.function()
        self._refresh_snapshot(force=True)

    def _reserved(self) -> int:
        """Cells the running generations will still write."""
        return sum(len(g.pending) + g.max_new - len(g.generated) for g in self._running)

    def _start(self, generation: Generation) -> None:
        """Admit a call, unless a running call is prefilling a long prefix of its prompt: then it waits
        for those cells and copies them (eight agents started together prefill their prompt once)."""
        own = self.kv.find(generation.owner)
        cached = len(own.tokens) if own is not None else 0
        leader = prefill_leader(self._running, generation, mode=self.kv.share, cached=cached)
        if leader is None:
            self._admit(generation)
            return
        generation.started = True
        self._waiting.append((generation, *leader))
        self.stats.prefix_waits += 1

    def _admit_waiting(self) -> None:
        for waiting in [w for w in self._waiting if leader_done(w[1], w[2], self._running)]:
            self._waiting.remove(waiting)
            generation = waiting[0]
            try:
                self._admit(generation)
            except Exception as e:
                logger.exception("engine: could not admit pid %d", generation.owner)
                error = e if isinstance(e, AiosError) else EngineError(f"could not admit the call: {e}")
                self._fail(generation, error)

    def _admit(self, generation: Generation) -> None:
        request = generation.request
        sampling = request.sampling
        generation.sampler = self.runtime.new_sampler(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=generation.seed,
            repeat_penalty=sampling.repeat_penalty,
            grammar=generation.grammar,
        )
        now = time.monotonic()
        seq = self.kv.acquire(
            generation.owner, arrival=generation.program_arrival, now=now, reserved=self._reserved()
        )
        if seq is None:
            raise EngineError("every sequence slot is held by a running generation")
        seq.scope, seq.prompt_tokens = generation.scope, len(generation.prompt)
        prompt = generation.prompt
        reuse = common_prefix(seq.tokens, prompt)
        if reuse == len(prompt):
            reuse -= 1  # the last prompt token must be decoded again to get its logits
        self.kv.trim(seq, reuse)
        if generation.vision is None:
            reuse = self.kv.share_prefix(seq, prompt, min_gain=MIN_COPY_TOKENS)
        generation.seq, generation.reused, generation.pending = seq, reuse, prompt[reuse:]
        self._make_room(generation, now)
        generation.started = True
        self._running.append(generation)

    def _resume(self, generation: Generation) -> None:
        """Continue a generation that yielded; a cache lost meanwhile is recomputed from its tokens."""
        self._paused.pop(generation.key, None)
        now = time.monotonic()
        assert generation.seq is not None
        if not self.kv.resume(generation.seq, now, reserved=self._reserved()):
            seq = self.kv.acquire(
                generation.owner, arrival=generation.program_arrival, now=now, reserved=self._reserved()
            )
            if seq is None:
                raise EngineError("every sequence slot is held by a running generation")
            tokens = generation.lost_tokens()
            keep = common_prefix(seq.tokens, tokens)
            self.kv.trim(seq, keep)
            generation.seq, generation.pending = seq, tokens[keep:]
            generation.refilling = bool(generation.pending)
            logger.info("pid %d: recomputing %d tokens of a paused generation", generation.owner, len(tokens))
        self._make_room(generation, now)
        self._running.append(generation)

    def _make_room(self, generation: Generation, now: float) -> None:
        seq = generation.seq
        assert seq is not None
        need = len(generation.pending) + generation.max_new - len(generation.generated)
        if self.kv.make_room(need, now=now, keep=seq, reserved=self._reserved()):
            return
        if generation.generated or generation.refilling:
            raise ContextOverflow("no room left in the KV cache to continue this generation")
        # nothing else can go: give up this sequence's cached prefix to make room
        self.kv.trim(seq, 0)
        generation.reused, generation.pending = 0, list(generation.prompt)
        if not self.kv.make_room(len(generation.prompt) + generation.max_new, now=now, keep=seq, reserved=0):
            raise ContextOverflow(
                f"the prompt of {len(generation.prompt)} tokens and {generation.max_new} output tokens "
                "do not fit the KV cache"
            )

    def _release(self, owner: int) -> None:
        for generation in [g for g in self._running if g.owner == owner]:
            generation.cancelled = True
        self._waiting = [w for w in self._waiting if w[0].owner != owner]
        self._drop_cancelled()
        for key, generation in list(self._paused.items()):
            if generation.owner == owner:
                del self._paused[key]
                self._free_sampler(generation)
        self.kv.release(owner, time.monotonic())

    def _drop_cancelled(self) -> None:
        self._waiting = [w for w in self._waiting if not w[0].cancelled]
        for generation in [g for g in self._running if g.cancelled]:
            self._running.remove(generation)
            self._finish_seq(generation)
            self._free_sampler(generation)

    def _step(self) -> None:
        for generation in [g for g in self._running if g.vision is not None and g.pending]:
            try:
                generation.write_images(self.runtime)
            except AiosError as e:
                self._fail(generation, e)
        plan = build_batch([g.view() for g in self._running], self.runtime.n_batch)
        if not plan.entries:
            return
        started = time.perf_counter()
        rc = self.runtime.decode(plan.entries)
        seconds = time.perf_counter() - started
        if rc != 0:
            self._on_decode_failure(rc)
            return
        self.stats.count(plan.entries)
        self.meter.observe_batch(
            prefill_tokens=plan.prefill_tokens, total_tokens=len(plan.entries), seconds=seconds
        )
        key_to_generation = {g.key: g for g in self._running}
        for key in plan.decoded:
            generation = key_to_generation[key]
            assert generation.seq is not None and generation.next_token is not None
            generation.seq.tokens.append(generation.next_token)
            generation.next_token = None
        for key, n in plan.prefilled:
            generation = key_to_generation[key]
            assert generation.seq is not None
            generation.seq.tokens.extend(generation.pending[:n])
            del generation.pending[:n]
            generation.refilling = generation.refilling and bool(generation.pending)
        for key, row in plan.sample_rows:
            generation = key_to_generation[key]
            assert generation.sampler is not None
            self._advance(generation, self.runtime.sample(generation.sampler, row))

    def _on_decode_failure(self, rc: int) -> None:
        """No KV room (rc 1) or a hard error: free idle cells, else fail the youngest generation."""
        logger.warning("engine: llama_decode=%d with %d cells in use", rc, self.kv.used_cells)
        if rc == 1 and self.kv.evict_one(time.monotonic()):
            return
        error = ContextOverflow("the KV cache is full") if rc == 1 else EngineError(f"llama_decode={rc}")
        self._fail(self._running[-1], error, drop_kv=True)

    def _advance(self, generation: Generation, token: int) -> None:
        request = generation.request
        end = self.runtime.is_eog(token) and not request.sampling.ignore_eos
        if not end:
            generation.generated.append(token)
            generation.text.extend(self.runtime.piece(token))
        stop_at = None
        if request.stop:
            stop_at = stop_index(generation.text.decode("utf-8", "ignore"), request.stop)
        if end or stop_at is not None:
            generation.stream()
            self._complete(generation, "stop", stop_at)
        elif len(generation.generated) >= generation.max_new:
            generation.stream()
            self._complete(generation, "length", None)
        else:
            if len(generation.generated) % STREAM_EVERY == 0:
                generation.stream()
            generation.next_token = token
            if generation.budget is not None:
                generation.budget -= 1
                if generation.budget <= 0:
                    self._yield(generation)

    def _yield(self, generation: Generation) -> None:
        """The token budget is spent: keep the sequence and sampler as they are until `resume`."""
        assert generation.seq is not None
        self._running.remove(generation)
        self.kv.preempt(generation.seq, time.monotonic())
        self._paused[generation.key] = generation
        self.stats.yields += 1
        generation.deliver(Yielded(generated_tokens=len(generation.generated)))

    def _complete(self, generation: Generation, reason: Literal["stop", "length"], cut: int | None) -> None:
        self._running.remove(generation)
        if generation.seq is not None:
            generation.seq.evict_to_host = generation.offload_when_evicted
        self._finish_seq(generation)
        text = generation.text.decode("utf-8", "ignore")
        result = generation.result(text if cut is None else text[:cut], reason, self.model_name)
        self._free_sampler(generation)
        generation.deliver(result)

    def _fail(self, generation: Generation, error: Exception, *, drop_kv: bool = True) -> None:
        if generation in self._running:
            self._running.remove(generation)
        self._paused.pop(generation.key, None)
        self._waiting = [w for w in self._waiting if w[0] is not generation]
        self._finish_seq(generation, drop=drop_kv)
        self._free_sampler(generation)
        generation.deliver(error)

    def _finish_seq(self, generation: Generation, *, drop: bool = False) -> None:
        if generation.seq is not None:
            self.kv.finish(generation.seq, time.monotonic(), drop=drop)
            generation.seq = None

    def _free_sampler(self, generation: Generation) -> None:
        if generation.sampler is not None:
            self.runtime.free_sampler(generation.sampler)
            generation.sampler = None

    def _observe_swaps(self) -> None:
        stats = self.kv.stats
        seen = (stats.swap_out_bytes, stats.swap_out_s, stats.swap_in_bytes, stats.swap_in_s)
        if seen != self._swap_seen:
            out_b, out_s, in_b, in_s = (a - b for a, b in zip(seen, self._swap_seen, strict=True))
            self.meter.observe_swap(out_bytes=int(out_b), out_s=out_s, in_bytes=int(in_b), in_s=in_s)
            self._swap_seen = seen

    def _refresh_snapshot(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._snapshot_at >= SNAPSHOT_EVERY_S:
            self._snapshot = self.kv.entries(now)
            self._snapshot_at = now
