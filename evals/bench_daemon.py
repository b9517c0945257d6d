"""`aios bench daemon`: what isolating agents in their own processes costs, measured on a running daemon.

- round trip of a no-op syscall from an isolated agent process (its Unix socket, HTTP, the kernel);
- no-op syscalls per second from 16 isolated agents at once;
- spawn to first syscall of an isolated agent (sandbox, interpreter, imports, connection);
- `bench concurrency`'s 8-agent LLM throughput with isolated agents over in-process ones.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel

from aios.agent_launch import spawn_agent
from aios.daemon import Daemon
from aios.evals.bench_agents import LLMWork, NoopProbe
from aios.kernel.events import KernelEvent


class DaemonBenchParams(BaseModel):
    rtt_calls: int = 3000
    agents: int = 16
    calls_per_agent: int = 1000
    spawns: int = 10
    llm_agents: int = 8
    llm_calls: int = 4
    llm_tokens: int = 64
    llm_rounds: int = 2
    """In-process and isolated runs alternate this many times each (the ratio is of their medians)."""


class DaemonBenchReport(BaseModel):
    rtt_p50_ms: float
    rtt_p90_ms: float
    inprocess_rtt_p50_ms: float
    syscalls_per_s: float
    spawn_p50_ms: float
    spawn_ms: list[float]
    inprocess_tokens_per_s: list[float]
    isolated_tokens_per_s: list[float]
    isolated_vs_inprocess: float

    def markdown(self) -> str:
        rows = [
            (
                "no-op round trip, isolated agent (p50 / p90)",
                f"{self.rtt_p50_ms:.3f} / {self.rtt_p90_ms:.3f} ms",
            ),
            ("no-op round trip, in-process agent (p50)", f"{self.inprocess_rtt_p50_ms:.3f} ms"),
            ("no-op syscalls per second, 16 isolated agents", f"{self.syscalls_per_s:.0f}"),
            ("spawn to first syscall, isolated (p50)", f"{self.spawn_p50_ms:.0f} ms"),
            ("8 LLM agents in-process, tokens/s", ", ".join(f"{t:.1f}" for t in self.inprocess_tokens_per_s)),
            ("8 LLM agents isolated, tokens/s", ", ".join(f"{t:.1f}" for t in self.isolated_tokens_per_s)),
            ("isolated / in-process (medians)", f"{self.isolated_vs_inprocess:.3f}"),
        ]
        return "| measure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)

    def last_line(self) -> str:
        return (
            f"rtt_p50_ms={self.rtt_p50_ms:.3f} syscalls_per_s={self.syscalls_per_s:.0f} "
            f"spawn_p50_ms={self.spawn_p50_ms:.0f} isolated_vs_inprocess={self.isolated_vs_inprocess:.2f}"
        )


async def _probe(daemon: Daemon, calls: int, *, isolated: bool) -> dict[str, float]:
    host = daemon.host if isolated else None
    pid = await spawn_agent(daemon.kernel, NoopProbe, json.dumps({"calls": calls}), host=host)
    record = await daemon.kernel.wait(pid)
    if record.state != "done":
        raise RuntimeError(f"bench process {pid} ended {record.state}: {record.error}")
    answer: dict[str, float] = json.loads(record.result or "")
    return answer


async def _throughput(daemon: Daemon, agents: int, calls: int) -> float:
    pids = [
        await spawn_agent(daemon.kernel, NoopProbe, json.dumps({"calls": calls}), host=daemon.host)
        for _ in range(agents)
    ]
    answers = []
    for pid in pids:
        record = await daemon.kernel.wait(pid)
        if record.state != "done":
            raise RuntimeError(f"bench process {pid} ended {record.state}: {record.error}")
        answers.append(json.loads(record.result or ""))
    # from when the first agent began its calls to when the last one finished them
    span = max(a["end"] for a in answers) - min(a["start"] for a in answers)
    return agents * calls / span


async def _spawn_ms(daemon: Daemon, spawns: int) -> list[float]:
    first_call: dict[int, float] = {}

    def note(event: KernelEvent) -> None:
        if event.kind == "syscall_started" and event.pid not in first_call:
            first_call[event.pid] = time.perf_counter()

    unsubscribe = daemon.kernel.subscribe(note)
    samples = []
    try:
        for _ in range(spawns):
            started = time.perf_counter()
            pid = await spawn_agent(daemon.kernel, NoopProbe, json.dumps({"calls": 1}), host=daemon.host)
            await daemon.kernel.wait(pid)
            samples.append((first_call[pid] - started) * 1000)
    finally:
        unsubscribe()
    return samples


async def _llm_tokens_per_s(daemon: Daemon, params: DaemonBenchParams, run: str, *, isolated: bool) -> float:
    host = daemon.host if isolated else None
    started = time.perf_counter()
    pids = []
    for i in range(params.llm_agents):
        task = json.dumps({"run": run, "index": i, "calls": params.llm_calls, "tokens": params.llm_tokens})
        pids.append(await spawn_agent(daemon.kernel, LLMWork, task, host=host))
    records = [await daemon.kernel.wait(pid) for pid in pids]
    seconds = time.perf_counter() - started
    failed = [r for r in records if r.state != "done"]
    if failed:
        raise RuntimeError(f"bench process {failed[0].pid} ended {failed[0].state}: {failed[0].error}")
    return sum(r.tokens_out for r in records) / seconds


async def run_daemon_bench(
    daemon: Daemon, params: DaemonBenchParams, progress: Callable[[str], None] = lambda _m: None
) -> DaemonBenchReport:
    """Every figure on one daemon whose agents are isolated (`agents.isolation = "process"`)."""
    if daemon.host is None:
        raise RuntimeError("bench daemon needs isolated agents: set agents.isolation = 'process'")
    progress("warm-up")
    await _probe(daemon, 50, isolated=True)
    await _llm_tokens_per_s(
        daemon,
        params.model_copy(update={"llm_agents": 1, "llm_calls": 1, "llm_tokens": 8}),
        "warm",
        isolated=False,
    )
    progress("no-op round trips, one isolated agent")
    rtt = await _probe(daemon, params.rtt_calls, isolated=True)
    inprocess = await _probe(daemon, params.rtt_calls, isolated=False)
    progress(f"no-op syscalls from {params.agents} isolated agents")
    throughput = await _throughput(daemon, params.agents, params.calls_per_agent)
    progress("spawn to first syscall")
    spawns = await _spawn_ms(daemon, params.spawns)
    inside, isolated = [], []
    for round_ in range(params.llm_rounds):
        progress(f"{params.llm_agents} LLM agents in-process, round {round_ + 1}")
        inside.append(await _llm_tokens_per_s(daemon, params, f"in{round_}", isolated=False))
        progress(f"{params.llm_agents} LLM agents isolated, round {round_ + 1}")
        isolated.append(await _llm_tokens_per_s(daemon, params, f"iso{round_}", isolated=True))
    return DaemonBenchReport(
        rtt_p50_ms=rtt["p50_ms"],
        rtt_p90_ms=rtt["p90_ms"],
        inprocess_rtt_p50_ms=inprocess["p50_ms"],
        syscalls_per_s=throughput,
        spawn_p50_ms=statistics.median(spawns),
        spawn_ms=spawns,
        inprocess_tokens_per_s=inside,
        isolated_tokens_per_s=isolated,
        isolated_vs_inprocess=statistics.median(isolated) / statistics.median(inside),
    )
