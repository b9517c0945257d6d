"""`aios bench kv --simulate gpu`: the KV benchmark's agent programs on a simulated GPU engine.

A discrete-event simulation with a simulated clock (a run takes seconds, nothing sleeps). What is real: the
programs (`generate_programs`, or a trace file), the tool-duration predictor, the KV policies that decide
pin / swap / drop / keep at every pause, and the kernel's scheduler that orders and admits LLM calls. What
is modelled, after vLLM-style serving on the profile's figures (`GpuProfile`):

- a shared batch: every step decodes one token of each running call and prefills prompt tokens in chunks up
  to `max_num_batched_tokens`; its time is `GpuProfile.step_s` of the tokens it holds and attends to;
- KV capacity in tokens; a call holds its whole footprint (prompt plus output) from its start, as the
  scheduler plans it; a generation runs to its end (no slices);
- idle caches are reclaimed when a starting call needs their cells, in the local engine's order (plain
  cache least recently used first, then expired pins, then live pins of the latest program), to host
  memory if their decision says so and the host has room, else dropped;
- a copy moves bytes over the host link, one at a time per direction: a cache copied out frees its cells
  when its copy ends, a cache copied in runs when its copy ends; a dropped cache is prefilled again.
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from aios.evals.bench_kv import SCHEDULER_OF, KVBenchParams, KVBenchReport, PolicyResult, generate_programs
from aios.evals.gpu_profile import GPU_PROFILES, GpuProfile
from aios.evals.sim_engine import SimEngine
from aios.kernel.engines.interface import EngineCapacity
from aios.kernel.errors import UserError
from aios.kernel.kv_lifecycle import QUEUE_DELAY_SMOOTHING
from aios.kernel.kv_policy import KVPolicy, Pause, ToolDurations, create_kv_policy
from aios.kernel.scheduler import Scheduler, create_policy
from aios.kernel.scheduler.interface import QueuedCall
from aios.kernel.traces import ProgramTrace, Turn

ENGINE = "gpu"

SIM_PARAMS = KVBenchParams(
    programs=200,
    rates=(0.5, 1.0, 1.5),
    main_rate=1.0,
    system_tokens=2000,
    output_tokens=200,
    tool_output_tokens=800,
    max_turns=20,
)
"""Programs of the published shapes (turns, tool times) at the sizes of a SWE-agent-like 8B workload: a
2,000-token system prompt, 200 tokens out and 800 tokens of tool output a turn (assumed sizes; the traces
give turn counts and tool times only). 200 programs keep a run in seconds and put the GPU under pressure
at the main rate."""

QUICK_SIM = SIM_PARAMS.model_copy(update={"programs": 100, "rates": (1.5,), "main_rate": 1.5, "seeds": (1,)})
"""A few seconds; 100 programs at 1.5/s still fill HBM."""


@dataclass(eq=False, kw_only=True)
class _Call:
    queued: QueuedCall
    turn: Turn
    ready_at: float
    """When its cells are free and its cache is back in HBM."""
    prefill_left: int
    decode_left: int
    context: int
    """Tokens it attends to now."""


@dataclass(eq=False, kw_only=True)
class _Program:
    trace: ProgramTrace
    turn: int = 0
    last_llm_end: float = 0.0


class _Simulation:
    """One policy on one set of programs."""

    def __init__(
        self, profile: GpuProfile, programs: list[ProgramTrace], policy: KVPolicy, scheduler: str
    ) -> None:
        self.profile = profile
        self.policy = policy
        self.engine = SimEngine(profile)
        self.costs = profile.calibration()
        self.durations = ToolDurations()
        self.scheduler = Scheduler(create_policy(scheduler))
        self.scheduler.add_engine(
            ENGINE,
            EngineCapacity(
                max_running=profile.max_num_seqs,
                context_tokens=self.engine.capacity,
                kv_cells=self.engine.capacity,
            ),
        )
        self.programs = {p.program_id: _Program(trace=p) for p in programs}
        self.events: list[tuple[float, int, int]] = []  # (time, tie-break, pid): an arrival or a tool return
        self.running: list[_Call] = []
        self.queue_delay_s = 0.0
        self.seq = itertools.count()
        self.jct_s: list[float] = []
        self.prefill_tokens = self.returns = self.resident_returns = 0
        for p in programs:
            heapq.heappush(self.events, (p.arrival_s, next(self.seq), p.program_id))

    def run(self) -> float:
        """Replay every program; returns the makespan in simulated seconds."""
        now = 0.0
        while self.events or self.running or self.scheduler.waiting():
            changed = False
            while self.events and self.events[0][0] <= now:
                _, _, pid = heapq.heappop(self.events)
                self._submit(pid, now)
                changed = True
            if changed:
                self._schedule(now)
            batch = [c for c in self.running if c.ready_at <= now]
            upcoming = [c.ready_at for c in self.running if c.ready_at > now]
            if self.events:
                upcoming.append(self.events[0][0])
            horizon = min(upcoming, default=None)
            if not batch:
                assert horizon is not None, "the simulation stalled: calls wait and nothing is due"
                now = horizon
                continue
            now = self._step(batch, now, horizon)
            finished = [c for c in batch if c.decode_left <= 0]
            for call in finished:
                self._finish(call, now)
            if finished:
                self._schedule(now)
        return now

    def _submit(self, pid: int, now: float) -> None:
        """A program arrives or comes back from its tool: its next LLM call is queued."""
        program = self.programs[pid]
        turn = program.trace.turns[program.turn]
        if program.turn:
            tool = program.trace.turns[program.turn - 1].tool or "tool"
            self.durations.record(tool, now - program.last_llm_end)
        cache = self.engine.caches.get(pid)
        call = QueuedCall(
            syscall_id=f"{pid}.{program.turn}",
            pid=pid,
            seq=next(self.seq),
            enqueued_at=now,
            engine=ENGINE,
            program_arrival=program.trace.arrival_s,
            kv_resident=cache is not None and cache.resident,
            cells_needed=turn.prompt_tokens + max(1, turn.output_tokens),
        )
        self.scheduler.submit(call)

    def _schedule(self, now: float) -> None:
        for run in self.scheduler.schedule(now).start:
            self._start(run.call, now)

    def _start(self, queued: QueuedCall, now: float) -> None:
        program = self.programs[queued.pid]
        turn = program.trace.turns[program.turn]
        reused, ready, was_resident = self.engine.acquire(
            queued.pid,
            arrival=program.trace.arrival_s,
            prompt_tokens=turn.prompt_tokens,
            footprint=queued.cells_needed,
            now=now,
        )
        prefill = turn.prompt_tokens - reused
        self.prefill_tokens += prefill
        if program.turn:
            self.returns += 1
            self.resident_returns += was_resident
        self.queue_delay_s += QUEUE_DELAY_SMOOTHING * (now - queued.enqueued_at - self.queue_delay_s)
        self.running.append(
            _Call(
                queued=queued,
                turn=turn,
                ready_at=ready,
                prefill_left=prefill,
                decode_left=max(1, turn.output_tokens),
                context=reused,
            )
        )

    def _step(self, batch: list[_Call], now: float, horizon: float | None) -> float:
        """Run engine steps for `batch`: one step with prefill work, or a stretch of pure decode steps up to
        the first call that ends or the next event; returns the new time."""
        profile = self.profile
        decoding = [c for c in batch if c.prefill_left == 0]
        if len(decoding) == len(batch):
            n, context = len(batch), sum(c.context for c in batch)
            first = profile.step_s(batch_tokens=n, context_tokens=context)
            steps = min(c.decode_left for c in batch)
            if horizon is not None:
                steps = max(1, min(steps, math.ceil((horizon - now) / first)))
            # each step attends to n more tokens than the one before
            growth = n * steps * (steps - 1) / 2 * profile.attend_s_per_token
            for call in batch:
                call.decode_left -= steps
                call.context += steps
            return now + steps * first + growth
        budget = profile.max_num_batched_tokens - len(decoding)
        tokens = len(decoding)
        for call in batch:
            if call.prefill_left == 0:
                call.decode_left -= 1
                call.context += 1
                continue
            chunk = min(call.prefill_left, budget)
            budget -= chunk
            tokens += chunk
            call.prefill_left -= chunk
            call.context += chunk
            if call.prefill_left == 0:
                call.decode_left -= 1  # the last prefill chunk samples the first output token
        return now + profile.step_s(batch_tokens=tokens, context_tokens=sum(c.context for c in batch))

    def _finish(self, call: _Call, now: float) -> None:
        self.running.remove(call)
        self.scheduler.on_finish(call.queued)
        pid = call.queued.pid
        program = self.programs[pid]
        self.engine.finish(pid, tokens=call.context, evict_to_host=self.policy.offload_when_evicted, now=now)
        program.turn += 1
        program.last_llm_end = now
        if call.turn.tool is None or program.turn == len(program.trace.turns):
            self.engine.release(pid)
            self.jct_s.append(now - program.trace.arrival_s)
            return
        pause = Pause(
            pid=pid,
            tool=call.turn.tool,
            tokens=call.context,
            program_arrival=program.trace.arrival_s,
            pressure=self.engine.pressure(now),
            queue_delay_s=self.queue_delay_s,
        )
        self.engine.park(pid, self.policy.decide(pause, self.durations, self.costs), now)
        heapq.heappush(self.events, (now + (call.turn.tool_duration_s or 0.0), next(self.seq), pid))


def simulate(
    params: KVBenchParams,
    profile: GpuProfile,
    programs: list[ProgramTrace],
    policy: str,
    *,
    seed: int,
    rate: float,
) -> PolicyResult:
    """One policy replaying `programs` on the simulated engine, with the scheduler the real bench gives it."""
    sim = _Simulation(
        profile, programs, create_kv_policy(policy), params.scheduler or SCHEDULER_OF.get(policy, "fifo")
    )
    makespan = sim.run()
    assert len(sim.jct_s) == len(programs), "a program did not finish"
    return PolicyResult(
        policy=policy,
        seed=seed,
        rate=rate,
        jct_s=sim.jct_s,
        makespan_s=makespan,
        prefill_tokens=sim.prefill_tokens,
        returns=sim.returns,
        ttl_hits=sim.resident_returns,
        pinned_cell_seconds=sim.engine.pinned_token_s,
        swap_bytes=sim.engine.swap_bytes,
    )


class SimulatedKVReport(KVBenchReport):
    """The KV benchmark's results on a simulated GPU engine; `ttl_hits` counts returns that found their
    cache in HBM (neither copied back nor prefilled again)."""

    profile_key: str
    profile: GpuProfile

    def ratio_to(self, baseline: str) -> float:
        """Median over seeds at the main rate of ours' mean JCT over `baseline`'s."""
        rate = self.params.main_rate
        seed_to_ours = {r.seed: r.jct_mean for r in self.at(rate, "ours")}
        ratios = [
            seed_to_ours[r.seed] / r.jct_mean for r in self.at(rate, baseline) if r.seed in seed_to_ours
        ]
        return statistics.median(ratios) if ratios else math.nan

    def last_line(self) -> str:
        _, best, _ = self.ratios()
        return (
            f"sim_{self.profile_key} jct_ours_vs_best_baseline={best:.2f} "
            f"jct_ours_vs_lru_offload={self.ratio_to('lru_offload'):.2f}"
        )

    def markdown(self) -> str:
        p, params = self.profile, self.params
        lines = [
            f"Simulated KV benchmark: {p.name}; KV {p.kv_capacity_tokens:,} tokens "
            f"({p.kv_bytes_per_token // 1024} KiB each), prefill {p.prefill_tokens_per_s:,.0f} tok/s, "
            f"host link {p.pcie_bytes_per_s / 1e9:.0f} GB/s, one-sequence decode step "
            f"{p.step_s(batch_tokens=1, context_tokens=0) * 1000:.1f} ms",
            f"{params.shape} programs x{params.programs} ({params.system_tokens}-token system prompt, "
            f"{params.output_tokens} out and {params.tool_output_tokens} of tool output a turn), "
            f"seeds {list(params.seeds)}; medians over seeds",
            "",
            "| rate/s | policy | JCT mean s | JCT p50 s | JCT p95 s | prefill Mtok | resident at return "
            "| swap GB | pinned Mtok-s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for rate in params.rates:
            for policy in params.policies:
                runs = self.at(rate, policy)
                if runs:
                    lines.append(self._row(rate, policy, runs))
        return "\n".join(lines) + "\n"

    @staticmethod
    def _row(rate: float, policy: str, runs: list[PolicyResult]) -> str:
        m = statistics.median
        cells = [
            f"{m(r.jct_mean for r in runs):.2f}",
            f"{m(r.jct_quantile(0.5) for r in runs):.2f}",
            f"{m(r.jct_quantile(0.95) for r in runs):.2f}",
            f"{m(r.prefill_tokens for r in runs) / 1e6:.2f}",
            f"{m(r.ttl_hit_rate for r in runs):.2f}",
            f"{m(r.swap_bytes for r in runs) / 1e9:.1f}",
            f"{m(r.pinned_cell_seconds for r in runs) / 1e6:.1f}",
        ]
        return f"| {rate} | {policy} | " + " | ".join(cells) + " |"


def profile_named(name: str) -> GpuProfile:
    try:
        return GPU_PROFILES[name]
    except KeyError:
        raise UserError(
            f"unknown simulation profile {name!r}; choose one of {sorted(GPU_PROFILES)}"
        ) from None


def run_kv_simulation(
    params: KVBenchParams, profile_key: str, *, progress: Callable[[str], None] = lambda _m: None
) -> SimulatedKVReport:
    """Every policy at every rate on the simulated engine; all seeds at the main rate, the first elsewhere."""
    from aios.kernel.traces import read_traces

    report = SimulatedKVReport(params=params, profile_key=profile_key, profile=profile_named(profile_key))
    for rate in params.rates:
        for seed in params.seeds if rate == params.main_rate else params.seeds[:1]:
            programs = (
                read_traces(params.trace) if params.trace else generate_programs(params, seed=seed, rate=rate)
            )
            for policy in params.policies:
                progress(f"simulated rate {rate}/s seed {seed}: {policy}")
                report.results.append(
                    simulate(params, report.profile, programs, policy, seed=seed, rate=rate)
                )
    return report
