"""`aios bench concurrency`: N agents through the kernel vs one at a time vs the raw engine."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel

from aios.evals.bench_agents import TOPICS
from aios.kernel.contracts import KernelAPI
from aios.kernel.engines.interface import Engine
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling
from aios.sdk import Agent, Context, Manifest
from aios.transport import InProcessTransport


class BenchParams(BaseModel):
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    calls_per_agent: int = 4
    tokens_per_call: int = 64
    noop_calls: int = 3000


class Row(BaseModel):
    mode: str
    agents: int
    tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class BenchReport(BaseModel):
    rows: list[Row]
    throughput_8_vs_serial: float
    kernel_vs_raw: float
    dispatch_us: float

    def last_line(self) -> str:
        return (
            f"throughput_8_vs_serial={self.throughput_8_vs_serial:.2f} "
            f"kernel_vs_raw={self.kernel_vs_raw:.2f} dispatch_us={self.dispatch_us:.1f}"
        )


def _request(run: str, agent: int, call: int, tokens: int) -> LLMSyscall:
    topic = TOPICS[agent % len(TOPICS)]
    return LLMSyscall(
        messages=(Message(role="user", content=f"[{run}/{agent}/{call}] Tell a long story about {topic}."),),
        max_tokens=tokens,
        sampling=Sampling(temperature=0.0, ignore_eos=True),
    )


class BenchAgent(Agent):
    """Fixed LLM work: `calls_per_agent` calls of exactly `tokens_per_call` tokens each."""

    manifest = Manifest(name="bench", description="fixed LLM work for benchmarks", capabilities=("llm",))

    def __init__(self, run: str, index: int, params: BenchParams) -> None:
        self.run_id, self.index, self.params = run, index, params

    async def run(self, task: str, ctx: Context) -> str:
        tokens = 0
        for call in range(self.params.calls_per_agent):
            request = _request(self.run_id, self.index, call, self.params.tokens_per_call)
            result = await ctx.llm(request.messages, max_tokens=request.max_tokens, ignore_eos=True)
            tokens += result.usage.completion_tokens
        return str(tokens)


async def _kernel_run(kernel: KernelAPI, n: int, params: BenchParams, run: str, *, serial: bool) -> Row:
    async def spawn(i: int) -> int:
        agent = BenchAgent(run, i, params)

        async def program(pid: int) -> str:
            return await agent.run("bench", Context(InProcessTransport(kernel, pid)))

        return await kernel.spawn(program, agent="bench", task=f"bench {run}/{i}", capabilities=["llm"])

    started = time.perf_counter()
    records = []
    if serial:
        for i in range(n):
            records.append(await kernel.wait(await spawn(i)))
    else:
        pids = [await spawn(i) for i in range(n)]
        records = [await kernel.wait(pid) for pid in pids]
    seconds = time.perf_counter() - started
    failed = [r for r in records if r.state != "done"]
    if failed:
        raise RuntimeError(f"bench process {failed[0].pid} ended {failed[0].state}: {failed[0].error}")
    return Row(
        mode="kernel-serial" if serial else "kernel",
        agents=n,
        tokens=sum(r.tokens_out for r in records),
        seconds=seconds,
    )


async def _raw_run(engine: Engine, n: int, params: BenchParams, run: str, owner_base: int) -> Row:
    async def agent(i: int) -> int:
        tokens = 0
        for call in range(params.calls_per_agent):
            request = _request(run, i, call, params.tokens_per_call)
            prepared = await engine.prepare(request, owner=owner_base + i, program_arrival=0.0)
            result = await engine.run(prepared)
            assert isinstance(result, LLMResult)
            tokens += result.usage.completion_tokens
        return tokens

    started = time.perf_counter()
    tokens = sum(await asyncio.gather(*(agent(i) for i in range(n))))
    return Row(mode="raw", agents=n, tokens=tokens, seconds=time.perf_counter() - started)


async def _dispatch_us(kernel: KernelAPI, calls: int) -> float:
    samples: list[float] = []

    async def program(pid: int) -> str:
        ctx = Context(InProcessTransport(kernel, pid))
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            await ctx.noop()
            samples.append((time.perf_counter_ns() - t0) / 1000)
        return "ok"

    pid = await kernel.spawn(program, agent="bench-noop", task="noop", capabilities=[])
    await kernel.wait(pid)
    return statistics.median(samples)


async def run_bench(
    kernel: KernelAPI,
    engine: Engine,
    params: BenchParams,
    progress: Callable[[str], None] = lambda _m: None,
) -> BenchReport:
    """Measure everything on one kernel and its default engine (`engine`, also driven directly)."""
    rows: list[Row] = []
    progress("warm-up")
    await _raw_run(engine, 1, BenchParams(calls_per_agent=1, tokens_per_call=8), "warm", owner_base=-1000)
    owner_base = -2000
    for n in params.concurrency:
        progress(f"raw engine, {n} agents")
        rows.append(await _raw_run(engine, n, params, f"raw{n}", owner_base))
        owner_base -= 100
        progress(f"kernel, {n} agents")
        rows.append(await _kernel_run(kernel, n, params, f"k{n}", serial=False))
    top = max(params.concurrency)
    progress(f"kernel, {top} agents one at a time")
    serial = await _kernel_run(kernel, top, params, f"s{top}", serial=True)
    rows.append(serial)
    progress("no-op syscalls")
    dispatch = await _dispatch_us(kernel, params.noop_calls)
    kernel_top = next(r for r in rows if r.mode == "kernel" and r.agents == top)
    raw_top = next(r for r in rows if r.mode == "raw" and r.agents == top)
    return BenchReport(
        rows=rows,
        throughput_8_vs_serial=kernel_top.tokens_per_s / serial.tokens_per_s,
        kernel_vs_raw=kernel_top.tokens_per_s / raw_top.tokens_per_s,
        dispatch_us=dispatch,
    )
