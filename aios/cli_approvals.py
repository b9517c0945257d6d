"""`aios approvals`, `aios approve`, `aios deny`: a human decides on operations that wait for one."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import sys
import threading
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aios.cli_common import _settings, console
from aios.kernel.events import KernelEvent
from aios.kernel.kernel import Kernel
from aios.kernel.store import ProcessStore


def _who() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "local user"


def approvals(
    every: Annotated[bool, typer.Option("--all", help="Decided requests too.")] = False,
) -> None:
    """Requests waiting for a human decision (destructive operations, or what the policy asks about)."""
    store = ProcessStore(_settings().db_url)
    try:
        rows = store.list_approvals(pending_only=not every)
    finally:
        store.close()
    table = Table("id", "pid", "agent", "tool", "arguments", "risk", "state", "waiting", "decided by")
    now = time.time()
    for r in rows:
        table.add_row(
            str(r.id),
            str(r.pid),
            r.agent,
            r.tool,
            escape(json.dumps(r.arguments)[:80]),
            r.risk,
            r.state,
            f"{(r.decided_at or now) - r.requested_at:.0f} s",
            r.decided_by or "-",
        )
    console.print(table)
    if not rows:
        console.print("[dim]nothing waits for a decision[/]")


def _decide(approval_id: int, state: str, reason: str) -> None:
    store = ProcessStore(_settings().db_url)
    try:
        record = store.decide_approval(approval_id, state, by=_who(), reason=reason)
    finally:
        store.close()
    console.print(
        f"{state} request {record.id}: pid {record.pid} {record.tool} {escape(json.dumps(record.arguments))}"
    )


def approve(
    approval_id: Annotated[int, typer.Argument(help="Request id (see `aios approvals`).")],
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
) -> None:
    """Let a waiting operation run."""
    _decide(approval_id, "approved", reason)


def deny(
    approval_id: Annotated[int, typer.Argument(help="Request id (see `aios approvals`).")],
    reason: Annotated[str, typer.Option(help="Told to the agent and recorded.")] = "",
) -> None:
    """Refuse a waiting operation (the agent's syscall fails with PermissionDenied)."""
    _decide(approval_id, "denied", reason)


def _read_line(loop: asyncio.AbstractEventLoop) -> asyncio.Future[str]:
    """A line from stdin on a daemon thread: an unanswered prompt must not keep `aios run` from exiting."""
    future: asyncio.Future[str] = loop.create_future()

    def deliver(line: str) -> None:
        if not future.done():
            future.set_result(line)

    def read() -> None:
        line = sys.stdin.readline()
        with contextlib.suppress(RuntimeError):  # the loop closed first: nobody waits any more
            loop.call_soon_threadsafe(deliver, line)

    threading.Thread(target=read, name="aios-approval-prompt", daemon=True).start()
    return future


class Prompter:
    """In `aios run`: asks at the terminal when an operation waits for approval (or says how to answer)."""

    def __init__(self, kernel: Kernel, loop: asyncio.AbstractEventLoop) -> None:
        self.kernel = kernel
        self.loop = loop
        self.tasks: set[asyncio.Task[None]] = set()

    def __call__(self, event: KernelEvent) -> None:
        if event.kind != "approval_requested":
            return
        approval_id = int(event.detail["approval"])
        if not sys.stdin.isatty():
            console.print(
                f"[yellow]pid {event.pid} waits for approval {approval_id}[/] ({event.target}): "
                f"run `aios approve {approval_id}` or `aios deny {approval_id}`"
            )
            return
        task = self.loop.create_task(self._ask(approval_id, event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _ask(self, approval_id: int, event: KernelEvent) -> None:
        arguments = escape(json.dumps(event.detail.get("arguments", {}))[:300])
        question = (
            f"pid {event.pid} wants {event.target} {arguments} ({event.detail.get('why')}). Allow? [y/N] "
        )
        console.print(f"[bold yellow]approval {approval_id}[/]: {question}", end="")
        answer = await _read_line(self.loop)
        try:
            await self.kernel.decide(
                approval_id, answer.strip().lower() in ("y", "yes"), by=f"{_who()} (aios run prompt)"
            )
        except Exception as e:  # decided elsewhere meanwhile, or the kernel went away
            console.print(f"[dim]{escape(str(e))}[/]")
