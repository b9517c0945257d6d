"""`aios bench ...`: the benchmarks that back every performance claim; each ends with its summary line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from aios.cli_common import _settings, console, on_kernel, progress, publish, with_memory_in

if TYPE_CHECKING:
    from aios.config import Settings
    from aios.evals.bench_agent import AgentBenchReport
    from aios.evals.bench_concurrency import BenchReport
    from aios.evals.bench_drivers import DriversReport
    from aios.evals.bench_engine import EngineBenchReport
    from aios.evals.bench_kv import KVBenchReport
    from aios.evals.bench_memory import MemoryBenchReport
    from aios.evals.bench_openai import OpenAIBenchReport
    from aios.evals.bench_prefix import PrefixBenchReport
    from aios.evals.bench_vision import VisionBenchReport
    from aios.kernel.kernel import Kernel

Say = Callable[[str], None]
P = TypeVar("P", bound=BaseModel)

bench_app = typer.Typer(help="Benchmarks that back the performance claims.", no_args_is_help=True)

OutOption = Annotated[Path | None, typer.Option(help="Results folder (default: <data_dir>/results/<bench>).")]


def _folder(out: Path | None, name: str) -> Path:
    folder = out or _settings().data_dir / "results" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _scratch_daemon(settings: Settings, scratch: Path, **daemon: Any) -> Settings:
    """A benchmark's own daemon: its database, socket and memory in `scratch`, never the user's."""
    own = settings.model_copy(
        update={
            "data_dir": scratch,
            "database_url": None,
            "daemon": settings.daemon.model_copy(
                update={"socket": None, "resume_interrupted": False, **daemon}
            ),
        }
    )
    return with_memory_in(own, scratch)


@bench_app.command("concurrency")
def bench_concurrency(
    quick: Annotated[bool, typer.Option(help="Fewer calls and tokens (about a minute).")] = False,
    calls: Annotated[int | None, typer.Option(help="LLM calls per agent.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Tokens generated per call.")] = None,
) -> None:
    """N agents through the kernel vs one at a time vs the raw engine; ends with the summary line."""
    from rich.table import Table

    from aios.evals.bench_concurrency import BenchParams, run_bench

    params = BenchParams(calls_per_agent=2, tokens_per_call=32, noop_calls=2000) if quick else BenchParams()
    params = params.model_copy(
        update={
            k: v for k, v in {"calls_per_agent": calls, "tokens_per_call": tokens}.items() if v is not None
        }
    )

    async def work(kernel: Kernel, say: Say) -> BenchReport:
        return await run_bench(kernel, await kernel.engines.acquire(None), params, say)

    report = on_kernel(_settings(), work)
    table = Table("mode", "agents", "tokens", "seconds", "tokens/s")
    for row in report.rows:
        table.add_row(
            row.mode, str(row.agents), str(row.tokens), f"{row.seconds:.2f}", f"{row.tokens_per_s:.1f}"
        )
    console.print(table)
    console.print(f"median no-op syscall dispatch: {report.dispatch_us:.1f} us")
    print(report.last_line())


@bench_app.command("kv")
def bench_kv(
    quick: Annotated[
        bool, typer.Option(help="A small run (under a minute) that prints the same last line.")
    ] = False,
    trace: Annotated[
        Path | None, typer.Option(help="Replay programs from a trace file (aios trace).")
    ] = None,
    shape: Annotated[str, typer.Option(help="Generated programs: swe or bfcl.")] = "swe",
    seeds: Annotated[int, typer.Option(help="Seeds at the main arrival rate.")] = 3,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="Only these KV policies (repeatable; default: all).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="One scheduler for every policy (default: program_fcfs for continuum and ours)."),
    ] = None,
    simulate: Annotated[
        str | None,
        typer.Option(
            help="Replay on a simulated GPU engine built from published figures instead of the local one "
            "(gpu: an 8B model on an H100 over PCIe 5.0; gpu_pcie4: over PCIe 4.0); takes seconds."
        ),
    ] = None,
    out: OutOption = None,
) -> None:
    """KV policies compared on agent programs with tool pauses; ends with the summary line."""
    from aios.evals.bench_kv import QUICK, KVBenchParams, run_kv_bench

    if simulate is not None:
        _simulate_kv(
            simulate,
            quick=quick,
            trace=trace,
            shape=shape,
            seeds=seeds,
            policy=policy,
            scheduler=scheduler,
            out=out,
        )
        return
    params = _kv_params(QUICK if quick else KVBenchParams(), quick, trace, shape, seeds, policy, scheduler)
    settings = _settings()
    folder = _folder(out, "bench_kv")

    async def go() -> KVBenchReport:
        with progress("KV benchmark") as say:
            return await run_kv_bench(
                params, calibration_file=settings.data_dir / "calibration.json", progress=say
            )

    report = asyncio.run(go())
    report.plot(folder / "jct_vs_rate.png")
    publish(report, folder)


def _kv_params(
    base: P,
    quick: bool,
    trace: Path | None,
    shape: str,
    seeds: int,
    policy: list[str] | None,
    scheduler: str | None,
) -> P:
    """The KV benchmark's parameters (real or simulated) as the command line sets them."""
    return base.model_copy(
        update={
            "trace": trace,
            "shape": shape,
            "seeds": base.seeds if quick else tuple(range(1, seeds + 1)),  # type: ignore[attr-defined]
            "policies": tuple(policy) if policy else base.policies,  # type: ignore[attr-defined]
            "scheduler": scheduler,
        }
    )


def _simulate_kv(
    profile: str,
    *,
    quick: bool,
    trace: Path | None,
    shape: str,
    seeds: int,
    policy: list[str] | None,
    scheduler: str | None,
    out: Path | None,
) -> None:
    """`aios bench kv --simulate PROFILE`: the same programs and policies on a simulated GPU engine."""
    from aios.evals.kv_simulation import QUICK_SIM, SIM_PARAMS, profile_named, run_kv_simulation

    profile_named(profile)  # an unknown name fails before any work
    params = _kv_params(QUICK_SIM if quick else SIM_PARAMS, quick, trace, shape, seeds, policy, scheduler)
    folder = _folder(out, f"bench_kv_sim_{profile}")
    with progress("simulated KV benchmark") as say:
        report = run_kv_simulation(params, profile, progress=say)
    report.plot(folder / "jct_vs_rate.png")
    publish(report, folder)


@bench_app.command("engine")
def bench_engine(
    runs: Annotated[int, typer.Option(min=1, help="Measurements per figure (the median is kept).")] = 5,
    deterministic: Annotated[
        bool, typer.Option(help="Also measure the deterministic mode (per-sequence KV streams, bf16).")
    ] = True,
    out: OutOption = None,
) -> None:
    """Prefill, decode, batched and grammar-constrained tokens/s of the local engine; batch invariance."""
    from aios.evals.bench_engine import EngineBenchParams, run_engine_bench
    from aios.kernel.engines.configs import LocalModelConfig

    settings = _settings()
    configured = settings.engine_models().get(settings.default_model)
    base = configured if isinstance(configured, LocalModelConfig) else LocalModelConfig()
    folder = _folder(out, "bench_engine")

    async def go() -> EngineBenchReport:
        with progress("engine benchmark") as say:
            return await run_engine_bench(
                base, EngineBenchParams(runs=runs), deterministic=deterministic, progress=say
            )

    publish(asyncio.run(go()), folder)


@bench_app.command("agent")
def bench_agent(
    runs: Annotated[int, typer.Option(min=1, help="Runs per side (the median is kept).")] = 3,
    server: Annotated[
        bool, typer.Option(help="Also run the same calls on a plain llama-cpp-python server.")
    ] = True,
    out: OutOption = None,
) -> None:
    """One agent, three 32-token calls with 0.5 s tool pauses: the kernel on a fresh data dir vs a plain
    llama-cpp-python server on the same model."""
    from aios.evals.bench_agent import run_agent_bench

    folder = _folder(out, "bench_agent")

    async def go() -> AgentBenchReport:
        with progress("agent latency benchmark") as say:
            return await run_agent_bench(runs=runs, with_server=server, progress=say)

    publish(asyncio.run(go()), folder)


@bench_app.command("drivers")
def bench_drivers(
    driver: Annotated[
        list[str] | None, typer.Option("--driver", help="Only these drivers (repeatable; default: all).")
    ] = None,
    runs: Annotated[int, typer.Option(min=1, help="Calls per operation.")] = 5,
    out: OutOption = None,
) -> None:
    """Median latency of every driver operation against its real backend (Chromium, Xvfb, kmock, ansible)."""
    from aios.evals.bench_drivers import run_driver_bench

    folder = _folder(out, "bench_drivers")

    async def go() -> DriversReport:
        with progress("driver benchmark") as say:
            return await run_driver_bench(driver or [], runs=runs, progress=say)

    report = asyncio.run(go())
    publish(report, folder, footnote=f"{len(report.rows)} operations in {report.seconds:.0f} s; ")


@bench_app.command("daemon")
def bench_daemon(
    quick: Annotated[bool, typer.Option(help="Fewer calls and tokens (under a minute).")] = False,
    out: OutOption = None,
) -> None:
    """Isolated agents on a daemon of its own: syscall round trip, syscalls/s, spawn time, LLM throughput."""
    import tempfile

    from aios.daemon import start_daemon
    from aios.evals.bench_daemon import DaemonBenchParams, DaemonBenchReport, run_daemon_bench

    folder = _folder(out, "daemon")
    params = DaemonBenchParams()
    if quick:
        params = DaemonBenchParams(
            rtt_calls=500, calls_per_agent=200, spawns=5, llm_calls=2, llm_tokens=32, llm_rounds=1
        )
    settings = _settings()

    async def go() -> DaemonBenchReport:
        with (
            tempfile.TemporaryDirectory(prefix="aios-bench-") as scratch,
            progress("starting a daemon") as say,
        ):
            isolated = settings.model_copy(
                update={"agents": settings.agents.model_copy(update={"isolation": "process"})}
            )
            daemon = await start_daemon(_scratch_daemon(isolated, Path(scratch), port=None), cwd=Path.cwd())
            try:
                return await run_daemon_bench(daemon, params, say)
            finally:
                await daemon.close()

    publish(
        asyncio.run(go()),
        folder,
        footnote="targets: rtt_p50_ms <= 2, syscalls_per_s >= 1000, spawn_p50_ms <= 500, "
        "isolated_vs_inprocess >= 0.95; ",
    )


@bench_app.command("openai")
def bench_openai(
    quick: Annotated[bool, typer.Option(help="4 agents, 2 calls of 32 tokens (under a minute).")] = False,
    agents: Annotated[int | None, typer.Option(help="Agents (conversations) at once.")] = None,
    calls: Annotated[int | None, typer.Option(help="LLM calls per agent.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Tokens generated per call.")] = None,
    server: Annotated[bool, typer.Option(help="Also measure a plain llama-cpp-python server.")] = True,
    out: OutOption = None,
) -> None:
    """N agents x K calls with tool pauses: SDK agents, the OpenAI endpoint, a plain llama.cpp server."""
    import tempfile

    from aios.daemon import start_daemon
    from aios.evals.bench_openai import OpenAIBenchParams, run_openai_bench

    folder = _folder(out, "bench_openai_quick" if quick else "bench_openai")
    params = OpenAIBenchParams()
    if quick:
        params = OpenAIBenchParams(agents=4, calls_per_agent=2, tokens_per_call=32)
    chosen = {"agents": agents, "calls_per_agent": calls, "tokens_per_call": tokens, "with_server": server}
    params = params.model_copy(update={k: v for k, v in chosen.items() if v is not None})
    settings = _settings()

    async def go() -> OpenAIBenchReport:
        with (
            tempfile.TemporaryDirectory(prefix="aios-bench-") as scratch,
            progress("starting a daemon") as say,
        ):
            own = _scratch_daemon(settings, Path(scratch), host="127.0.0.1", port=0)
            daemon = await start_daemon(own, cwd=Path.cwd())
            try:
                token, _ = daemon.users.create("bench")
                return await run_openai_bench(daemon, token, params, say)
            finally:
                await daemon.close()

    publish(
        asyncio.run(go()),
        folder,
        footnote="targets: endpoint_vs_sdk >= 0.9, endpoint_vs_plain_server >= 1.5; ",
    )


@bench_app.command("vision")
def bench_vision(
    quick: Annotated[bool, typer.Option(help="5 steps per agent (under a minute).")] = False,
    steps: Annotated[int | None, typer.Option(min=1, help="Steps per agent (default 50).")] = None,
    out: OutOption = None,
) -> None:
    """Screenshot of a 1920x1080 display to a vision model, by an in-process and an isolated agent; ends with
    `observe_p50_ms=X request_bytes_p50=Y wire_overhead_ms=Z` (Y in bytes)."""
    import tempfile

    from aios.daemon import start_daemon
    from aios.evals.bench_vision import VisionBenchParams, run_vision_bench
    from aios.evals.vision_stub import VisionStub

    folder = _folder(out, "bench_vision_quick" if quick else "bench_vision")
    params = VisionBenchParams(steps=steps or (5 if quick else 50))
    settings = _settings()
    # a private 1920x1080 Xvfb whatever the user's gui drives; their [gui.screenshot] scaling is kept
    gui = settings.gui.model_copy(
        update={
            "display": None,
            "width": 1920,
            "height": 1080,
            "apps": {**settings.gui.apps, "xterm": ["xterm"]},
        }
    )
    own = settings.model_copy(
        update={"gui": gui, "agents": settings.agents.model_copy(update={"isolation": "process"})}
    )

    async def go(stub: VisionStub) -> VisionBenchReport:
        with (
            tempfile.TemporaryDirectory(prefix="aios-bench-") as scratch,
            progress("starting a daemon") as say,
        ):
            daemon = await start_daemon(
                _scratch_daemon(own, Path(scratch), port=None), cwd=Path.cwd(), preload=False
            )
            try:
                return await run_vision_bench(daemon, stub, params, say)
            finally:
                await daemon.close()

    with VisionStub() as stub:
        report = asyncio.run(go(stub))
    publish(
        report,
        folder,
        footnote="targets: observe_p50_ms <= 150, request_bytes_p50 <= 400 KB, wire_overhead_ms <= 5; ",
    )


@bench_app.command("memory")
def bench_memory(
    quick: Annotated[bool, typer.Option(help="200 and 2,000 items only (about a minute).")] = False,
    queries: Annotated[int | None, typer.Option(help="Recalls measured per size.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Results and the benchmark's own store (default: <data_dir>/results).")
    ] = None,
) -> None:
    """Recall latency at 1k/10k/100k memories and write latency; ends with the summary line."""
    from aios.evals.bench_memory import QUICK, BenchParams, run_bench

    params = QUICK if quick else BenchParams()
    if queries:
        params = params.model_copy(update={"queries": queries})
    settings = _settings()
    folder = _folder(out, "bench_memory_quick" if quick else "bench_memory")

    async def work(kernel: Kernel, say: Say) -> MemoryBenchReport:
        assert kernel.memory is not None, "the memory benchmark needs memory.enabled"
        return await run_bench(kernel, kernel.memory, params, say)

    # the benchmark's store is kept between runs: embedding 100k memories takes minutes
    publish(on_kernel(with_memory_in(settings, folder), work), folder)


@bench_app.command("prefix")
def bench_prefix(
    quick: Annotated[bool, typer.Option(help="4 agents, 2 calls, one round (under a minute).")] = False,
    rounds: Annotated[int | None, typer.Option(help="Rounds per mode.")] = None,
    out: OutOption = None,
) -> None:
    """8 agents with one 1,500-token system prompt, shared vs private prefixes; ends with
    `prefill_shared_vs_private=X ttft_shared_vs_private=Y`."""
    from aios.evals.bench_prefix import QUICK, PrefixBenchParams, model_configs, run_prefix_bench
    from aios.kernel.engines.configs import LocalModelConfig

    params = QUICK if quick else PrefixBenchParams()
    if rounds:
        params = params.model_copy(update={"rounds": rounds})
    settings = _settings()
    local = settings.models.get("local")
    base = local if isinstance(local, LocalModelConfig) else LocalModelConfig()
    settings = settings.model_copy(update={"models": {**settings.models, **model_configs(base)}})

    async def work(kernel: Kernel, say: Say) -> PrefixBenchReport:
        return await run_prefix_bench(kernel, params, say)

    publish(on_kernel(settings, work), _folder(out, "bench_prefix"))
