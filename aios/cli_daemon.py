"""`aios serve` and the commands that talk to a running daemon: kill, logs, resume, token, service."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aios.cli_common import _settings, console
from aios.kernel.errors import UserError

if TYPE_CHECKING:
    from aios.config import Settings
    from aios.daemon import Daemon
    from aios.kernel.records import AuditRow
    from aios.sdk.client import Client

token_app = typer.Typer(help="User tokens of the daemon's API.", no_args_is_help=True)
service_app = typer.Typer(help="Run the daemon as a systemd user service.", no_args_is_help=True)

UNIT = """[Unit]
Description=aios daemon (LLM agent runtime)

[Service]
ExecStart={python} -m aios serve
Restart=on-failure
KillSignal=SIGTERM
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""


def daemon_client(settings: Settings) -> Client | None:
    """A client of the daemon on this data dir, or None when none answers on its socket."""
    socket, token_path = settings.socket_path, settings.cli_token_path
    if not (socket.exists() and token_path.exists()):
        return None
    from aios.sdk.client import connect

    try:
        client = connect(socket=socket, token=token_path.read_text().strip(), timeout_s=10)
    except OSError:
        return None
    try:
        client.processes(limit=1)
    except Exception:
        client.close()
        return None
    return client


def require_daemon(settings: Settings) -> Client:
    client = daemon_client(settings)
    if client is None:
        raise UserError(
            f"no aios daemon answers on {settings.socket_path}: start one with `aios serve` "
            "(a process of `aios run` without a daemon is stopped with Ctrl-C in its terminal)"
        )
    return client


def serve(
    port: Annotated[int | None, typer.Option(help="TCP port (0: any free one).")] = None,
    no_tcp: Annotated[bool, typer.Option("--no-tcp", help="Serve on the Unix socket only.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on (loopback unless TLS).")] = None,
    resume_interrupted: Annotated[
        bool, typer.Option("--resume-interrupted", help="Resume what the last daemon left interrupted.")
    ] = False,
) -> None:
    """Run the daemon in the foreground: one kernel for every client, until SIGTERM or Ctrl-C."""
    from aios.daemon import serve as run_daemon

    settings = _settings()
    updates: dict[str, object] = {k: v for k, v in {"port": port, "host": host}.items() if v is not None}
    if no_tcp:
        updates["port"] = None
    if resume_interrupted:
        updates["resume_interrupted"] = True
    settings = settings.model_copy(update={"daemon": settings.daemon.model_copy(update=updates)})

    def ready(daemon: Daemon) -> None:
        where = f"unix:{settings.socket_path}"
        if daemon.port:
            scheme = "https" if settings.daemon.tls else "http"
            where += f" and {scheme}://{settings.daemon.host}:{daemon.port} (dashboard at /ui/)"
        console.print(f"aios daemon serving on {where}; local commands use {settings.cli_token_path}")

    asyncio.run(run_daemon(settings, cwd=Path.cwd(), on_ready=ready))
    console.print("aios daemon stopped; unfinished processes are interrupted (`aios resume PID`)")


def kill(pid: Annotated[int, typer.Argument(help="Process id.")]) -> None:
    """Kill a process of the running daemon."""
    with require_daemon(_settings()) as client:
        record = client.kill(pid)
    console.print(f"pid {pid}: {record.state.value}")


def resume(pid: Annotated[int, typer.Argument(help="An interrupted process.")]) -> None:
    """Resume an interrupted process: its program runs again, answered from its journal, then goes on."""
    settings = _settings()
    client = daemon_client(settings)
    if client is not None:
        with client:
            record = client.resume(pid)
            console.print(f"pid {pid} resumed on the daemon")
            record = client.wait(pid)
    else:
        from aios.cli_run import resume_locally

        record = asyncio.run(resume_locally(settings, pid))
    console.print(f"pid {pid} {record.state.value}: {escape(record.result or record.error or '')}")
    raise typer.Exit(0 if record.state.value == "done" else 1)


def logs(
    pid: Annotated[int, typer.Argument(help="Process id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing events until it ends.")
    ] = False,
) -> None:
    """A process's syscalls and output; with --follow, its events as they happen (needs the daemon)."""
    settings = _settings()
    if follow:
        with require_daemon(settings) as client:
            for event in client.events(pid):
                if event.kind == "end":
                    console.print(f"[bold]end[/]: {escape(json.dumps(event.data))}")
                elif event.event is not None and event.event.kind == "llm_output":
                    console.print(escape(event.event.detail.get("text", "")), end="", highlight=False)
                elif event.event is not None:
                    e = event.event
                    what = f"{e.syscall or ''} {escape(e.target or '')} {e.status or ''}"
                    console.print(f"{event.id:>6} {e.kind:<18} {what}")
        return
    client = daemon_client(settings)
    if client is not None:
        from aios.kernel.records import AuditRow

        with client:
            logs = client.logs(pid)
        rows = [AuditRow.model_validate(row) for row in logs["audit"]]
        output = logs["output"] or None
    else:
        rows, output = _stored_logs(settings, pid)
    for row in rows:
        outcome = row.status if row.error is None else f"{row.status}: {row.error}"
        console.print(f"{row.syscall_id:<10} {row.kind:<7} {escape(row.target):<24} {escape(outcome)}")
    if output is not None:
        console.print("[bold]output[/]")
        console.print(escape(output))


def _stored_logs(settings: Settings, pid: int) -> tuple[list[AuditRow], str | None]:
    """A process's audit rows and what its agent printed (None: no log file), read without a daemon."""
    from aios.kernel.store import ProcessStore

    store = ProcessStore(settings.db_url)
    try:
        rows = store.audit(pid=pid)
        record = store.get_process(pid)
    finally:
        store.close()
    if record is None:
        raise UserError(f"no process {pid}")
    output = settings.data_dir / "logs" / f"{pid}.log"
    return rows, output.read_text(errors="replace") if output.is_file() else None


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="Who the token speaks for.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="May see every user's processes and make tokens.")
    ] = False,
    label: Annotated[str, typer.Option(help="A note to recognise it by.")] = "",
) -> None:
    """Make a token and print it once (only its hash is kept)."""
    from aios.api.tokens import UserTokens
    from aios.kernel.store import ProcessStore

    store = ProcessStore(_settings().db_url)
    try:
        token, info = UserTokens(store.engine).create(user, admin=admin, label=label)
    finally:
        store.close()
    console.print(f"token {info.id} for {user}{' (admin)' if admin else ''}; shown once:", highlight=False)
    print(token)


@token_app.command("list")
def token_list() -> None:
    """Every token's owner and dates (never the token)."""
    from aios.api.tokens import UserTokens
    from aios.kernel.store import ProcessStore

    store = ProcessStore(_settings().db_url)
    try:
        infos = UserTokens(store.engine).list()
    finally:
        store.close()
    for info in infos:
        state = "revoked" if info.revoked_at else "live"
        console.print(
            f"{info.id:>4} {info.user:<20} {'admin' if info.admin else 'user ':<6} {state:<8} {info.label}"
        )


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="Token id (see `aios token list`).")]) -> None:
    """Revoke a token (a running daemon notices within seconds)."""
    from aios.api.tokens import UserTokens
    from aios.kernel.store import ProcessStore

    store = ProcessStore(_settings().db_url)
    try:
        done = UserTokens(store.engine).revoke(token_id)
    finally:
        store.close()
    if not done:
        raise UserError(f"no live token {token_id}")
    console.print(f"revoked token {token_id}")


@service_app.command("install")
def service_install() -> None:
    """Write a systemd user unit that runs `aios serve`; then `systemctl --user enable --now aios`."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    unit = config_home / "systemd" / "user" / "aios.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(UNIT.format(python=sys.executable))
    console.print(f"wrote {unit}")
    if shutil.which("systemctl"):
        console.print("now: systemctl --user daemon-reload && systemctl --user enable --now aios")
    else:
        console.print("systemctl is not installed here; the unit is ready for a machine with systemd")
