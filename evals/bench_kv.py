"""`aios bench kv`: agent programs with tool pauses, replayed on the real local engine under each KV policy.

Programs arrive as a Poisson process and contend for a KV cache kept deliberately small. Each program is a
kernel process: per turn one LLM call (fixed output length, greedy) and one tool call that waits for the
recorded tool time through a real driver, so the kernel's pause hooks, schedulers and KV policies run
exactly as they do for real agents.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from aios.boot import assemble
from aios.kernel.drivers import CallContext, Driver, Operation, RiskLevel
from aios.kernel.engines.configs import LocalModelConfig
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.kv_policy import create_kv_policy
from aios.kernel.records import ProcessState
from aios.kernel.scheduler import create_policy
from aios.kernel.store import ProcessStore
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling, ToolSyscall
from aios.kernel.traces import ProgramTrace, Turn

POLICIES = ("none", "lru", "lru_offload", "pin_inf", "ttl_fixed", "continuum", "ours")
SCHEDULER_OF = {"continuum": "program_fcfs", "ours": "program_fcfs"}
"""KV policy -> scheduler; the others serve requests first come, first served, as a plain stack does."""
BASELINES = ("lru", "lru_offload", "pin_inf", "ttl_fixed", "continuum")
WORDS = [
    "time",
    "file",
    "data",
    "list",
    "line",
    "code",
    "test",
    "run",
    "task",
    "step",
    "tool",
    "call",
    "user",
    "page",
    "word",
    "text",
    "note",
    "list",
    "item",
    "part",
    "case",
    "plan",
    "form",
    "view",
    "road",
    "tree",
    "lake",
    "hill",
    "rain",
    "wind",
    "fire",
    "snow",
    "star",
    "moon",
    "gold",
    "iron",
    "wood",
    "salt",
    "milk",
]


class Shape(BaseModel):
    """A family of agent programs (turn count and tool-time distributions from the published traces)."""

    turns_mean: float
    turns_std: float
    tool_mean_s: float
    tool_std_s: float


SHAPES = {
    "swe": Shape(turns_mean=10.9, turns_std=2.1, tool_mean_s=0.925, tool_std_s=3.55),
    "bfcl": Shape(turns_mean=6.3, turns_std=2.3, tool_mean_s=1.923, tool_std_s=2.133),
}


class KVBenchParams(BaseModel):
    shape: Literal["swe", "bfcl"] = "swe"
    programs: int = 6
    rates: tuple[float, ...] = (0.2, 0.4)
    """Program arrivals per second; the summary is taken at `main_rate`."""
    main_rate: float = 0.4
    seeds: tuple[int, ...] = (1, 2, 3)
    n_ctx: int = 1536
    """Engine KV cells: small enough that programs contend for them."""
    max_concurrency: int = 8
    system_tokens: int = 160
    output_tokens: int = 16
    tool_output_tokens: int = 40
    max_turns: int = 14
    max_tool_s: float = 15.0
    """Tool times are capped so that a run is bounded (the published tail reaches minutes)."""
    time_scale: float = 1.0
    policies: tuple[str, ...] = POLICIES
    scheduler: str | None = None
    """One scheduler for every policy (None: program_fcfs for continuum and ours, fifo for the rest), to
    tell what a KV policy adds from what its scheduler adds."""
    trace: Path | None = None


QUICK = KVBenchParams(
    programs=3,
    rates=(1.5,),
    main_rate=1.5,
    seeds=(1,),
    n_ctx=512,
    system_tokens=120,
    output_tokens=6,
    tool_output_tokens=20,
    max_turns=4,
    time_scale=0.2,
)


class PolicyResult(BaseModel):
    policy: str
    seed: int
    rate: float
    jct_s: list[float]
    makespan_s: float
    prefill_tokens: int
    returns: int
    ttl_hits: int
    pinned_cell_seconds: float
    swap_bytes: int

    @property
    def jct_mean(self) -> float:
        return statistics.fmean(self.jct_s)

    def jct_quantile(self, q: float) -> float:
        data = sorted(self.jct_s)
        return data[min(len(data) - 1, int(q * len(data)))]

    @property
    def programs_per_min(self) -> float:
        return 60.0 * len(self.jct_s) / self.makespan_s

    @property
    def ttl_hit_rate(self) -> float:
        return self.ttl_hits / self.returns if self.returns else 0.0


class KVBenchReport(BaseModel):
    params: KVBenchParams
    results: list[PolicyResult] = Field(default_factory=list)

    def at(self, rate: float, policy: str) -> list[PolicyResult]:
        return [r for r in self.results if r.rate == rate and r.policy == policy]

    def ratios(self) -> tuple[float, float, float]:
        """Medians over seeds at the main rate: ours/none JCT, ours/best-baseline JCT, ours/none prefill."""
        x, y, z = [], [], []
        rate = self.params.main_rate
        for seed in self.params.seeds:
            by_policy = {r.policy: r for r in self.results if r.rate == rate and r.seed == seed}
            if not {"ours", "none"} <= set(by_policy):
                continue
            ours, none = by_policy["ours"], by_policy["none"]
            x.append(ours.jct_mean / none.jct_mean)
            baselines = [by_policy[p].jct_mean for p in BASELINES if p in by_policy]
            if baselines:
                y.append(ours.jct_mean / min(baselines))
            z.append(ours.prefill_tokens / max(1, none.prefill_tokens))
        med = lambda v: statistics.median(v) if v else math.nan  # noqa: E731
        return med(x), med(y), med(z)

    def last_line(self) -> str:
        x, y, z = self.ratios()
        return f"jct_ours_vs_none={x:.2f} jct_ours_vs_best_baseline={y:.2f} prefill_ours_vs_none={z:.2f}"

    def markdown(self) -> str:
        lines = [
            f"KV benchmark: {self.params.shape} programs x{self.params.programs}, n_ctx={self.params.n_ctx}, "
            f"seeds {list(self.params.seeds)}; medians over seeds",
            "",
            "| rate/s | policy | JCT mean s | JCT p50 s | JCT p95 s | programs/min | prefill tokens "
            "| TTL hit rate | pinned cell-s | swap MB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for rate in self.params.rates:
            for policy in self.params.policies:
                runs = self.at(rate, policy)
                if not runs:
                    continue
                m = statistics.median
                lines.append(
                    f"| {rate} | {policy} | {m(r.jct_mean for r in runs):.2f} | "
                    f"{m(r.jct_quantile(0.5) for r in runs):.2f} | "
                    f"{m(r.jct_quantile(0.95) for r in runs):.2f} | "
                    f"{m(r.programs_per_min for r in runs):.1f} | {m(r.prefill_tokens for r in runs):.0f} | "
                    f"{m(r.ttl_hit_rate for r in runs):.2f} | {m(r.pinned_cell_seconds for r in runs):.0f} | "
                    f"{m(r.swap_bytes for r in runs) / 1e6:.1f} |"
                )
        return "\n".join(lines) + "\n"

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for policy in self.params.policies:
            points = [
                (rate, statistics.median(r.jct_mean for r in self.at(rate, policy)))
                for rate in self.params.rates
                if self.at(rate, policy)
            ]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=policy)
        ax.set_xlabel("program arrival rate (programs/s)")
        ax.set_ylabel("mean job completion time (s)")
        ax.set_title(f"KV policies on {self.params.shape}-shaped agent programs")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def generate_programs(params: KVBenchParams, *, seed: int, rate: float) -> list[ProgramTrace]:
    """Seeded programs shaped like the published agent traces, scaled to the small model's context."""
    rng = random.Random(seed)
    shape = SHAPES[params.shape]
    sigma = math.sqrt(math.log(1 + (shape.tool_std_s / shape.tool_mean_s) ** 2))
    mu = math.log(shape.tool_mean_s) - sigma**2 / 2
    programs, arrival = [], 0.0
    for pid in range(params.programs):
        arrival += rng.expovariate(rate) if pid else 0.0
        count = max(2, min(params.max_turns, round(rng.gauss(shape.turns_mean, shape.turns_std))))
        prompt = params.system_tokens + 20
        turns = []
        for k in range(count):
            last = k == count - 1
            tool_s = (
                None if last else min(params.max_tool_s, rng.lognormvariate(mu, sigma)) * params.time_scale
            )
            turns.append(
                Turn(
                    prompt_tokens=prompt,
                    output_tokens=params.output_tokens,
                    tool=None if last else "bench.wait",
                    tool_duration_s=tool_s,
                )
            )
            prompt += params.output_tokens + params.tool_output_tokens
        programs.append(ProgramTrace(program_id=pid, agent="bench", arrival_s=round(arrival, 3), turns=turns))
    return programs


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n)))


class WaitDriver(Driver):
    """A tool that takes a given time: stands for the recorded tool calls of a trace."""

    name = "bench"
    max_concurrency = 1024

    class Args(BaseModel):
        seconds: float = Field(ge=0, le=600)

    def unconfined(self) -> frozenset[str]:
        """It only waits."""
        return frozenset()

    def operations(self) -> dict[str, Operation]:
        return {
            "wait": Operation(
                name="wait",
                description="Wait.",
                args_model=self.Args,
                risk=RiskLevel.READ,
                timeout_s=600,
                capability="bench.wait",
            )
        }

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> dict[str, Any]:
        assert isinstance(args, self.Args)
        await asyncio.sleep(args.seconds)
        return {"slept": args.seconds}


async def _replay(
    params: KVBenchParams,
    programs: list[ProgramTrace],
    policy: str,
    *,
    seed: int,
    rate: float,
    workdir: Path,
    calibration_file: Path,
) -> PolicyResult:
    store = ProcessStore(f"sqlite:///{workdir / f'{policy}-{seed}-{rate}.db'}")
    local = LocalModelConfig(
        n_ctx=params.n_ctx,
        n_seq_max=min(256, params.programs + 2),
        max_concurrency=params.max_concurrency,
        calibration_file=str(calibration_file),
    )
    from aios.kernel.engines.local import LocalEngine

    registry = EngineRegistry({"local": local}, default="local")
    engine = await registry.acquire("local")
    assert isinstance(engine, LocalEngine)
    kernel = await assemble(
        store=store,
        engines=registry,
        drivers={"bench": WaitDriver()},
        policy=create_policy(params.scheduler or SCHEDULER_OF.get(policy, "fifo")),
        kv_policy=create_kv_policy(policy),
        workdir_root=workdir / "work",
    )
    prefill = returns = hits = 0
    jct: list[float] = []
    started = time.monotonic()

    def program_for(trace: ProgramTrace) -> Callable[[int], Any]:
        async def program(pid: int) -> str:
            nonlocal prefill, returns, hits
            rng = random.Random(trace.program_id * 7919 + seed)
            messages = [
                Message(role="system", content=_words(rng, params.system_tokens)),
                Message(role="user", content=f"Task {trace.program_id}: " + _words(rng, 16)),
            ]
            cached = 0
            for k, turn in enumerate(trace.turns):
                request = LLMSyscall(
                    messages=tuple(messages),
                    max_tokens=max(1, turn.output_tokens),
                    sampling=Sampling(ignore_eos=True),
                )
                result = await kernel.syscall(pid, request)
                assert isinstance(result, LLMResult)
                prefill += result.usage.prefilled_tokens
                if k:
                    returns += 1
                    hits += result.usage.reused_tokens >= 0.9 * cached
                cached = result.usage.prompt_tokens + result.usage.completion_tokens
                messages.append(Message(role="assistant", content=result.content))
                if turn.tool is not None:
                    await kernel.syscall(
                        pid,
                        ToolSyscall(name="bench.wait", arguments={"seconds": turn.tool_duration_s or 0.0}),
                    )
                    messages.append(Message(role="tool", content=_words(rng, params.tool_output_tokens)))
            return "done"

        return program

    async def arrive(trace: ProgramTrace) -> None:
        await asyncio.sleep(max(0.0, started + trace.arrival_s - time.monotonic()))
        arrived = time.monotonic()
        pid = await kernel.spawn(
            program_for(trace),
            agent="bench",
            task=f"program {trace.program_id}",
            capabilities=["llm", "bench.wait"],
        )
        record = await kernel.wait(pid)
        if record.state != ProcessState.DONE:
            raise RuntimeError(f"program {trace.program_id} under {policy}: {record.state} {record.error}")
        jct.append(time.monotonic() - arrived)

    try:
        await asyncio.gather(*(arrive(t) for t in programs))
        makespan = time.monotonic() - started
        stats = engine.kv.stats
        return PolicyResult(
            policy=policy,
            seed=seed,
            rate=rate,
            jct_s=jct,
            makespan_s=makespan,
            prefill_tokens=prefill,
            returns=returns,
            ttl_hits=hits,
            pinned_cell_seconds=stats.pinned_cell_seconds,
            swap_bytes=stats.swap_out_bytes,
        )
    finally:
        await kernel.shutdown()


async def run_kv_bench(
    params: KVBenchParams, *, calibration_file: Path, progress: Callable[[str], None] = lambda _m: None
) -> KVBenchReport:
    """Every policy at every rate; all seeds at the main rate, the first seed elsewhere."""
    from aios.kernel.traces import read_traces

    report = KVBenchReport(params=params)
    with tempfile.TemporaryDirectory(prefix="aios-bench-kv-") as tmp:
        workdir = Path(tmp)
        for rate in params.rates:
            seeds = params.seeds if rate == params.main_rate else params.seeds[:1]
            for seed in seeds:
                programs = (
                    read_traces(params.trace)
                    if params.trace
                    else generate_programs(params, seed=seed, rate=rate)
                )
                for policy in params.policies:
                    progress(f"rate {rate}/s seed {seed}: {policy}")
                    result = await _replay(
                        params,
                        programs,
                        policy,
                        seed=seed,
                        rate=rate,
                        workdir=workdir,
                        calibration_file=calibration_file,
                    )
                    report.results.append(result)
    return report
