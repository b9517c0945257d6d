"""The `aios` command line: thin; it catches the runtime's errors and prints `Type: message`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from aios import __version__
from aios.agent_loader import installed_agents
from aios.boot import boot, spawn_agent
from aios.cli_approvals import Prompter, approvals, approve, deny
from aios.cli_common import (
    _settings,
    _spinner,
    _State,
    console,
    err_console,
    on_kernel,
    publish,
    with_memory_in,
)
from aios.cli_eval import eval_app
from aios.cli_memory import memory_app
from aios.config import Settings
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import AiosError
from aios.kernel.events import KernelEvent
from aios.kernel.records import ProcessRecord
from aios.kernel.store import ProcessStore

if TYPE_CHECKING:
    from aios.evals.bench_drivers import DriversReport

app = typer.Typer(
    help="AIOS: an operating system for LLM agents.", no_args_is_help=True, add_completion=False
)
bench_app = typer.Typer(help="Benchmarks that back the performance claims.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(memory_app, name="memory")
app.add_typer(eval_app, name="eval")
app.command("approvals")(approvals)
app.command("approve")(approve)
app.command("deny")(deny)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]


@app.callback()
def _main(
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    _State.config = config
    _State.verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def _fmt_ms(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


class _Printer:
    """Streams kernel events of one run as readable lines."""

    def __init__(self, started: float) -> None:
        self.started = started

    def __call__(self, event: KernelEvent) -> None:
        t = f"[dim]{time.monotonic() - self.started:6.2f}s pid {event.pid}[/]"
        d = event.detail
        if event.kind == "spawned":
            console.print(f"{t} spawned agent [cyan]{event.target}[/]")
        elif event.kind == "syscall_started" and event.syscall == "tool":
            args = escape(json.dumps(d.get("arguments", {}))[:200])
            console.print(f"{t}   [magenta]tool[/] {event.target} {args}")
        elif event.kind == "syscall_finished" and event.syscall == "llm":
            if event.status != "ok":
                console.print(f"{t}   [red]llm {event.target} failed:[/] {escape(str(d.get('error')))}")
                return
            calls = ", ".join(d.get("tool_calls", [])) or d.get("finish_reason")
            console.print(
                f"{t}   [green]llm[/] {event.target}: prompt {d['prompt_tokens']} tok "
                f"(reused {d['reused_tokens']}, prefilled {d['prefilled_tokens']}) "
                f"-> {d['completion_tokens']} tok, "
                f"queue {_fmt_ms(d['queue_wait_ms'])}, {_fmt_ms(d['service_ms'])} [dim]({calls})[/]"
            )
        elif event.kind == "approval_decided":
            colour = "green" if event.status == "approved" else "red"
            by = escape(str(d.get("by")))
            console.print(f"{t}   [{colour}]approval {d.get('approval')} {event.status}[/] by {by}")
        elif event.kind == "syscall_finished" and event.syscall == "memory":
            shown = {k: v for k, v in d.items() if k not in ("error", "service_ms") and v is not None}
            outcome = escape(str(d.get("error"))) if event.status != "ok" else escape(json.dumps(shown)[:160])
            console.print(f"{t}   [blue]memory[/] {event.target} {event.status}: {outcome}")
        elif event.kind == "syscall_finished" and event.syscall == "tool":
            if event.status != "ok":
                console.print(f"{t}     [red]failed:[/] {escape(str(d.get('error')))}")
                return
            out = d.get("output")
            if isinstance(out, dict) and "exit_code" in out:
                text = (out.get("stdout") or out.get("stderr") or "").strip().replace("\n", " | ")
                console.print(
                    f"{t}     exit {out['exit_code']} in {_fmt_ms(d['service_ms'])}: "
                    f"[dim]{escape(text[:160])}[/]"
                )
            else:
                console.print(f"{t}     {escape(json.dumps(out, default=str)[:160])}")


def _summary(record: ProcessRecord) -> str:
    seconds = (record.ended_at or time.time()) - (record.started_at or record.created_at)
    return (
        f"pid {record.pid} {record.agent} {record.state.value} in {seconds:.2f} s: "
        f"{record.llm_calls} LLM calls, "
        f"{record.tokens_in} tokens in / {record.tokens_out} out, {record.tool_calls} tool calls, "
        f"queue wait {_fmt_ms(record.queue_wait_ms)}"
    )


async def _run(
    settings: Settings,
    agent: str,
    task: str,
    *,
    model: str | None,
    caps: list[str] | None,
    priority: int,
    session: str | None,
) -> ProcessRecord:
    kernel = await boot(settings, cwd=Path.cwd())
    kernel.subscribe(_Printer(time.monotonic()))
    loop = asyncio.get_running_loop()
    kernel.subscribe(Prompter(kernel, loop))
    try:
        pid = await spawn_agent(
            kernel,
            agent,
            task,
            owner=settings.owner,
            capabilities=caps,
            priority=priority,
            model=model,
            session=session,
        )

        kills: list[asyncio.Task[ProcessRecord]] = []

        def on_interrupt() -> None:
            console.print(f"[yellow]interrupted: killing pid {pid}[/]")
            kills.append(loop.create_task(kernel.kill(pid)))

        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        record = await kernel.wait(pid)
        loop.remove_signal_handler(signal.SIGINT)
        return record
    finally:
        await kernel.shutdown()


@app.command()
def run(
    agent: Annotated[str, typer.Argument(help="Installed agent name (see `aios agents`).")],
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    model: Annotated[
        str | None, typer.Option(help="Configured model name or any litellm model string.")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="Scheduler policy: fifo, round_robin, priority, program_fcfs.")
    ] = None,
    kv_policy: Annotated[
        str | None, typer.Option(help="KV cache policy: none, lru, pin_inf, ttl_fixed, continuum, ours.")
    ] = None,
    cap: Annotated[
        list[str] | None, typer.Option(help="Narrow the agent's capabilities (repeatable).")
    ] = None,
    priority: Annotated[int, typer.Option(help="Scheduling priority (higher first).")] = 0,
    session: Annotated[
        str | None, typer.Option(help="Continue this dialogue's short-term memory (default: a new one).")
    ] = None,
) -> None:
    """Run an agent on a task and stream what it does."""
    settings = _settings(policy=policy, kv_policy=kv_policy)
    record = asyncio.run(
        _run(settings, agent, task, model=model, caps=cap, priority=priority, session=session)
    )
    if record.state.value == "done":
        console.print(
            Panel(escape(record.result or ""), title=f"answer (pid {record.pid})", border_style="green")
        )
    else:
        console.print(
            Panel(escape(record.error or record.state.value), title="process ended", border_style="red")
        )
        if record.traceback and _State.verbose:
            console.print(escape(record.traceback))
    console.print(_summary(record))
    raise typer.Exit(0 if record.state.value == "done" else 130 if record.state.value == "killed" else 1)


@app.command()
def ps(
    active: Annotated[bool, typer.Option("--active", help="Only processes that have not ended.")] = False,
    limit: Annotated[int, typer.Option(help="Most rows to show.")] = 20,
) -> None:
    """The process table: live and recent processes, newest first."""
    settings = _settings()
    store = ProcessStore(settings.db_url)
    rows = store.list_processes(limit=limit, active_only=active)
    store.close()
    table = Table(
        "pid", "agent", "state", "LLM tok in", "LLM tok out", "queue wait", "run time", "KV", "task"
    )
    now = time.time()
    for r in rows:
        run_s = ((r.ended_at or now) - r.started_at) if r.started_at else 0.0
        colour = {"done": "green", "failed": "red", "killed": "yellow"}.get(r.state.value, "cyan")
        table.add_row(
            str(r.pid),
            r.agent,
            f"[{colour}]{r.state.value}[/]",
            str(r.tokens_in),
            str(r.tokens_out),
            _fmt_ms(r.queue_wait_ms),
            f"{run_s:.2f} s",
            _fmt_kv(r),
            escape(r.task[:50]),
        )
    console.print(table)


def _fmt_kv(record: ProcessRecord) -> str:
    if record.kv_state is None:
        return "-"
    size = f"{record.kv_tokens} tok"
    if record.kv_host_bytes:
        size += f", {record.kv_host_bytes / 1e6:.1f} MB on host"
    return f"{record.kv_state} ({size})"


@app.command()
def kv() -> None:
    """The KV cache: which live processes the engines hold a cache for, and where (cells or host memory)."""
    settings = _settings()
    store = ProcessStore(settings.db_url)
    rows = store.kv_processes()
    store.close()
    table = Table("pid", "agent", "process state", "KV state", "tokens", "host bytes")
    for r in rows:
        table.add_row(
            str(r.pid), r.agent, r.state.value, r.kv_state or "-", str(r.kv_tokens), str(r.kv_host_bytes)
        )
    console.print(table)
    if not rows:
        console.print("[dim]no live process holds a KV cache[/]")


@app.command()
def trace(
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON Lines file to write.")] = Path(
        "traces.jsonl"
    ),
    limit: Annotated[int, typer.Option(help="Most recent processes to export.")] = 1000,
) -> None:
    """Export the audit log as agent traces (one program per line) that `aios bench kv --trace` replays."""
    from aios.kernel.traces import program_trace, write_traces

    settings = _settings()
    store = ProcessStore(settings.db_url)
    processes = sorted(store.list_processes(limit=limit), key=lambda p: p.created_at)
    epoch = processes[0].created_at if processes else 0.0
    traces = [program_trace(p, store.audit(pid=p.pid), epoch=epoch) for p in processes]
    store.close()
    count = write_traces((t for t in traces if t.turns), out)
    console.print(f"wrote {count} program traces to {out}")


@app.command()
def agents() -> None:
    """Installed agents and their capabilities."""
    table = Table("name", "version", "capabilities", "description")
    for name, cls in sorted(installed_agents().items()):
        m = cls.manifest
        table.add_row(name, m.version, ", ".join(m.capabilities), m.description)
    console.print(table)


@app.command()
def models() -> None:
    """Configured engines, the default first."""
    settings = _settings()
    registry = EngineRegistry(settings.models, default=settings.default_model)
    table = Table("name", "kind", "model", "concurrency", "detail")
    for info in registry.describe():
        name = f"{info.name} (default)" if info.name == settings.default_model else info.name
        table.add_row(name, info.kind, info.model, str(info.max_concurrency), info.detail)
    console.print(table)
    console.print("[dim]Any litellm model string also works: --model openai/gpt-4o-mini[/]")


@app.command()
def doctor() -> None:
    """Check the model, the sandbox, the database, memory and the devices; say how to fix failures."""
    from aios.doctor import run_checks

    settings = _settings()
    checks = run_checks(settings, _State.config)
    table = Table("check", "status", "detail", "fix")
    for c in checks:
        status = "[green]ok[/]" if c.ok else "[red]FAIL[/]" if c.required else "[yellow]warn[/]"
        table.add_row(c.name, status, escape(c.detail), escape(c.fix))
    console.print(table)
    raise typer.Exit(0 if all(c.ok for c in checks if c.required) else 1)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"aios-runtime {__version__}")


@bench_app.command("concurrency")
def bench_concurrency(
    quick: Annotated[bool, typer.Option(help="Fewer calls and tokens (about a minute).")] = False,
    calls: Annotated[int | None, typer.Option(help="LLM calls per agent.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Tokens generated per call.")] = None,
) -> None:
    """N agents through the kernel vs one at a time vs the raw engine; ends with the summary line."""
    from aios.evals.bench_concurrency import BenchParams, run_bench

    params = BenchParams(calls_per_agent=2, tokens_per_call=32, noop_calls=2000) if quick else BenchParams()
    params = params.model_copy(
        update={
            k: v for k, v in {"calls_per_agent": calls, "tokens_per_call": tokens}.items() if v is not None
        }
    )
    report = on_kernel(_settings(), lambda kernel, say: run_bench(kernel, params, say))
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
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: <data_dir>/results/bench_kv).")
    ] = None,
) -> None:
    """KV policies compared on agent programs with tool pauses; ends with the summary line."""
    from aios.evals.bench_kv import QUICK, KVBenchParams, run_kv_bench

    base = QUICK if quick else KVBenchParams()
    params = base.model_copy(
        update={"trace": trace, "shape": shape, "seeds": base.seeds if quick else tuple(range(1, seeds + 1))}
    )
    settings = _settings()
    folder = out or settings.data_dir / "results" / "bench_kv"
    folder.mkdir(parents=True, exist_ok=True)

    async def go() -> Any:
        with _spinner() as say:
            return await run_kv_bench(
                params, calibration_file=settings.data_dir / "calibration.json", progress=say
            )

    report = asyncio.run(go())
    report.plot(folder / "jct_vs_rate.png")
    publish(report, folder)


@bench_app.command("drivers")
def bench_drivers(
    driver: Annotated[
        list[str] | None, typer.Option("--driver", help="Only these drivers (repeatable; default: all).")
    ] = None,
    runs: Annotated[int, typer.Option(min=1, help="Calls per operation.")] = 5,
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: <data_dir>/results/bench_drivers).")
    ] = None,
) -> None:
    """Median latency of every driver operation against its real backend (Chromium, Xvfb, kmock, ansible)."""
    from aios.evals.bench_drivers import run_driver_bench

    folder = out or _settings().data_dir / "results" / "bench_drivers"
    folder.mkdir(parents=True, exist_ok=True)

    async def go() -> DriversReport:
        with _spinner() as say:
            return await run_driver_bench(driver or [], runs=runs, progress=say)

    report = asyncio.run(go())
    publish(report, folder, footnote=f"{len(report.rows)} operations in {report.seconds:.0f} s; ")


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
    folder = out or settings.data_dir / "results" / ("bench_memory_quick" if quick else "bench_memory")
    folder.mkdir(parents=True, exist_ok=True)
    # the benchmark's store is kept between runs: embedding 100k memories takes minutes
    report = on_kernel(with_memory_in(settings, folder), lambda kernel, say: run_bench(kernel, params, say))
    publish(report, folder)


def main() -> None:
    """Console-script entry: run the app, turning runtime errors into `Type: message` and exit 2."""
    try:
        app()
    except AiosError as e:
        err_console.print(f"[red]{type(e).__name__}:[/] {escape(str(e))}")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            err_console.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
