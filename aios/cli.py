"""The `aios` command line: thin; it catches the runtime's errors and prints `Type: message`.

Each command imports what it needs when it runs, so `aios --help` and `aios ps` stay fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aios import __version__
from aios.cli_approvals import approvals, approve, deny
from aios.cli_bench import bench_app
from aios.cli_common import _settings, _State, console, err_console, fmt_ms
from aios.cli_daemon import kill, logs, resume, serve, service_app, token_app
from aios.cli_eval import eval_app
from aios.cli_mcp import mcp_app
from aios.cli_memory import memory_app
from aios.cli_users import users_app
from aios.kernel.errors import AiosError

if TYPE_CHECKING:
    from aios.kernel.records import ProcessRecord

app = typer.Typer(
    help="AIOS: an operating system for LLM agents.", no_args_is_help=True, add_completion=False
)
app.add_typer(bench_app, name="bench")
app.add_typer(memory_app, name="memory")
app.add_typer(eval_app, name="eval")
app.add_typer(mcp_app, name="mcp")
app.command("approvals")(approvals)
app.command("approve")(approve)
app.command("deny")(deny)
app.command("serve")(serve)
app.command("kill")(kill)
app.command("logs")(logs)
app.command("resume")(resume)
app.add_typer(token_app, name="token")
app.add_typer(users_app, name="users")
app.add_typer(service_app, name="service")

MAX_PROCESSES_PER_REQUEST = 1000
"""The daemon lists at most this many processes at once; `aios ps` reads a longer list from the database."""

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
        str | None,
        typer.Option(help="KV cache policy: none, lru, lru_offload, pin_inf, ttl_fixed, continuum, ours."),
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
    from rich.panel import Panel

    from aios.cli_daemon import daemon_client
    from aios.cli_run import run_agent, run_on_daemon, summary

    settings = _settings(policy=policy, kv_policy=kv_policy)
    client = None if policy or kv_policy else daemon_client(settings)
    if client is not None:
        with client:
            record = run_on_daemon(
                client, agent, task, model=model, caps=cap, priority=priority, session=session
            )
    else:
        record = asyncio.run(
            run_agent(settings, agent, task, model=model, caps=cap, priority=priority, session=session)
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
    console.print(summary(record))
    raise typer.Exit(0 if record.state.value == "done" else 130 if record.state.value == "killed" else 1)


@app.command()
def ps(
    active: Annotated[bool, typer.Option("--active", help="Only processes that have not ended.")] = False,
    limit: Annotated[int, typer.Option(help="Most rows to show.")] = 20,
) -> None:
    """The process table: live and recent processes, newest first."""
    from rich.table import Table

    rows = _process_rows(limit=limit, active=active)
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
            fmt_ms(r.queue_wait_ms),
            f"{run_s:.2f} s",
            _fmt_kv(r),
            escape(r.task[:50]),
        )
    console.print(table)


def _process_rows(*, limit: int, active: bool) -> list[ProcessRecord]:
    """Ask the running daemon when one answers (its records of live processes are current), else read the
    database."""
    from aios.cli_daemon import daemon_client

    settings = _settings()
    client = daemon_client(settings) if limit <= MAX_PROCESSES_PER_REQUEST else None
    if client is not None:
        with client:
            return client.processes(limit=limit, active=active)
    from aios.kernel.store import ProcessStore

    store = ProcessStore(settings.db_url)
    try:
        return store.list_processes(limit=limit, active_only=active)
    finally:
        store.close()


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
    from rich.table import Table

    from aios.kernel.store import ProcessStore

    store = ProcessStore(_settings().db_url)
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
    from aios.kernel.store import ProcessStore
    from aios.kernel.traces import program_trace, write_traces

    store = ProcessStore(_settings().db_url)
    processes = sorted(store.list_processes(limit=limit), key=lambda p: p.created_at)
    epoch = processes[0].created_at if processes else 0.0
    traces = [program_trace(p, store.audit(pid=p.pid), epoch=epoch) for p in processes]
    store.close()
    count = write_traces((t for t in traces if t.turns), out)
    console.print(f"wrote {count} program traces to {out}")


@app.command()
def agents() -> None:
    """Installed agents and their capabilities; exits 1 when one cannot run (and says why)."""
    from rich.table import Table

    from aios.agent_catalog import catalog, manifest_reader

    found = asyncio.run(catalog(manifest_reader(_settings())))
    table = Table("name", "package", "version", "capabilities", "description")
    for info in found:
        package = ", ".join(info.packages)
        m = info.manifest
        if m is None:
            table.add_row(info.name, package, "", "[red]refused[/]", escape(info.error or ""))
        else:
            table.add_row(info.name, package, m.version, ", ".join(m.capabilities), escape(m.description))
    console.print(table)
    raise typer.Exit(1 if any(info.manifest is None for info in found) else 0)


@app.command()
def models() -> None:
    """Configured engines, the default first."""
    from rich.table import Table

    from aios.kernel.engines.registry import EngineRegistry

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
    from rich.table import Table

    from aios.doctor import run_checks

    checks = run_checks(_settings(), _State.config)
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


class _Signals:
    terminated = False


def _terminate(_signum: int, _frame: object) -> None:
    """SIGTERM, raised as an interrupt where the program is: asyncio then cancels what runs, so its cleanup
    (an evaluation's task computers, a run's process) happens as on Ctrl-C, instead of the process vanishing
    without it."""
    _Signals.terminated = True
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry: run the app, turning runtime errors into `Type: message` and exit 2."""
    signal.signal(signal.SIGTERM, _terminate)  # `aios serve` replaces it with its own orderly stop
    try:
        app()
    except AiosError as e:
        err_console.print(f"[red]{type(e).__name__}:[/] {escape(str(e))}")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            err_console.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
    except SystemExit as e:  # typer ends an interrupted command with 130 itself
        if _Signals.terminated and e.code == 130:
            with contextlib.suppress(Exception):
                err_console.print("[yellow]terminated[/]")
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
