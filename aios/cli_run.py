"""`aios run`: boot a kernel, spawn one agent, stream what it does, ask for approvals, print the answer.

With a daemon running the run is the daemon's and this module is only a client: the kernel, the engines and
the drivers load only for a run of its own (`run_agent`, `resume_locally`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from aios.cli_common import console, fmt_ms

if TYPE_CHECKING:
    from aios.config import Settings
    from aios.kernel.events import KernelEvent
    from aios.kernel.records import ProcessRecord
    from aios.sdk.client import Client


class Printer:
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
                f"queue {fmt_ms(d['queue_wait_ms'])}, {fmt_ms(d['service_ms'])} [dim]({calls})[/]"
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
                    f"{t}     exit {out['exit_code']} in {fmt_ms(d['service_ms'])}: "
                    f"[dim]{escape(text[:160])}[/]"
                )
            else:
                console.print(f"{t}     {escape(json.dumps(out, default=str)[:160])}")


def summary(record: ProcessRecord) -> str:
    seconds = (record.ended_at or time.time()) - (record.started_at or record.created_at)
    return (
        f"pid {record.pid} {record.agent} {record.state.value} in {seconds:.2f} s: "
        f"{record.llm_calls} LLM calls, "
        f"{record.tokens_in} tokens in / {record.tokens_out} out, {record.tool_calls} tool calls, "
        f"queue wait {fmt_ms(record.queue_wait_ms)}"
    )


async def run_agent(
    settings: Settings,
    agent: str,
    task: str,
    *,
    model: str | None,
    caps: list[str] | None,
    priority: int,
    session: str | None,
) -> ProcessRecord:
    """Run one agent to its end; Ctrl-C kills it cleanly."""
    from aios.agent_launch import spawn_agent
    from aios.boot import boot
    from aios.cli_approvals import Prompter

    started = time.monotonic()

    def loading(name: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.2f}s loading model {escape(name)}[/]")

    kernel = await boot(settings, cwd=Path.cwd(), on_engine_load=loading, preload=True)
    host = None
    if settings.agents.isolation == "process":
        from aios.agent_host import start_agent_host

        host = await start_agent_host(
            kernel, settings.agents, data_dir=settings.data_dir, image_bytes=settings.images.max_call_bytes
        )
    kernel.subscribe(Printer(started))
    loop = asyncio.get_running_loop()
    kernel.subscribe(Prompter(kernel, loop))
    spawned: list[int] = []
    kills: list[asyncio.Task[ProcessRecord]] = []

    def on_interrupt() -> None:
        # before the spawn returns there is no pid yet: the spawn is cancelled instead
        if spawned:
            console.print(f"[yellow]interrupted: killing pid {spawned[0]}[/]")
            kills.append(loop.create_task(kernel.kill(spawned[0])))
        else:
            raise KeyboardInterrupt

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        pid = await spawn_agent(
            kernel,
            agent,
            task,
            host=host,
            owner=settings.owner,
            capabilities=caps,
            priority=priority,
            model=model,
            session=session,
        )
        spawned.append(pid)
        return await kernel.wait(pid)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await kernel.shutdown()
        if host is not None:
            await host.close()


def run_on_daemon(
    client: Client,
    agent: str,
    task: str,
    *,
    model: str | None,
    caps: list[str] | None,
    priority: int,
    session: str | None,
) -> ProcessRecord:
    """`aios run` when a daemon runs: the process is the daemon's; this terminal shows its events and
    answers its approvals; Ctrl-C kills it (closing the terminal otherwise would not)."""
    started = time.monotonic()
    run = client.spawn(agent, task, capabilities=caps, priority=priority, model=model, session=session)
    console.print(
        f"[dim]on the daemon: pid {run.pid} (`aios logs {run.pid} -f` follows it from elsewhere)[/]"
    )
    printer = Printer(started)
    asker = _DaemonApprovals(client)
    try:
        for event in run.events():
            if event.event is not None:
                printer(event.event)
                asker(event.event)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: killing pid {run.pid}[/]")
        return run.kill()
    return run.wait()


class _DaemonApprovals:
    """Asks at the terminal for the daemon's approval requests of this run, and sends the answer."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(self, event: KernelEvent) -> None:
        if event.kind != "approval_requested":
            return
        approval_id = int(event.detail["approval"])
        if not sys.stdin.isatty():
            console.print(
                f"[yellow]pid {event.pid} waits for approval {approval_id}[/]: `aios approve {approval_id}`"
            )
            return
        arguments = escape(json.dumps(event.detail.get("arguments", {}))[:300])
        question = f"pid {event.pid} wants {event.target} {arguments}. Allow? \\[y/N] "
        console.print(f"[bold yellow]approval {approval_id}[/]: {question}", end="")
        answer = sys.stdin.readline().strip().lower()
        decide = self.client.approve if answer in ("y", "yes") else self.client.deny
        try:
            decide(approval_id, "at the aios run prompt")
        except Exception as e:  # decided elsewhere meanwhile
            console.print(f"[dim]{escape(str(e))}[/]")


async def resume_locally(settings: Settings, pid: int) -> ProcessRecord:
    """`aios resume` without a daemon: a kernel of its own runs the process to its end."""
    from aios.agent_launch import resume_agent
    from aios.boot import boot

    kernel = await boot(settings, cwd=Path.cwd())
    host = None
    try:
        if kernel.process(pid).isolated:
            from aios.agent_host import start_agent_host

            host = await start_agent_host(
                kernel,
                settings.agents,
                data_dir=settings.data_dir,
                image_bytes=settings.images.max_call_bytes,
            )
        kernel.subscribe(Printer(time.monotonic()))
        await resume_agent(kernel, pid, host=host)
        return await kernel.wait(pid)
    finally:
        await kernel.shutdown(interrupt=True)
        if host is not None:
            await host.close()
