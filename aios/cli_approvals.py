"""`aios approvals`, `aios approve`, `aios deny`: a human decides on operations that wait for one."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.markup import escape

from aios.cli_common import _settings, console

if TYPE_CHECKING:
    from aios.kernel.approvals import ApprovalRecord
    from aios.kernel.events import KernelEvent


def _who() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "local user"


PREVIEW_CHARS = 4000


def _preview_text(preview: Any) -> str:
    """A driver's dry run as the human reads it: diffs as text, anything else as indented JSON."""
    text = preview if isinstance(preview, str) else json.dumps(preview, indent=2, default=str)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "\n[... cut]"


def approvals(
    approval_id: Annotated[
        int | None, typer.Argument(help="Show this request in full, with the driver's dry run.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Decided requests too.")] = False,
) -> None:
    """Requests waiting for a human decision (destructive operations, or what the policy asks about)."""
    from rich.table import Table

    from aios.kernel.errors import UnknownApproval
    from aios.kernel.store import ProcessStore

    store = ProcessStore(_settings().db_url)
    try:
        if approval_id is not None:
            record = store.get_approval(approval_id)
            if record is None:
                raise UnknownApproval(f"no approval request {approval_id}")
            _show(record)
            return
        rows = store.list_approvals(pending_only=not every)
    finally:
        store.close()
    table = Table("id", "pid", "agent", "tool", "arguments", "why", "state", "waiting", "decided by")
    now = time.time()
    for r in rows:
        table.add_row(
            str(r.id),
            str(r.pid),
            r.agent,
            r.tool,
            escape(json.dumps(r.arguments)[:80]),
            escape(r.why or r.risk),
            r.state,
            f"{(r.decided_at or now) - r.requested_at:.0f} s",
            r.decided_by or "-",
        )
    console.print(table)
    if not rows:
        console.print("[dim]nothing waits for a decision[/]")


def _show(record: ApprovalRecord) -> None:
    console.print(
        f"[bold]approval {record.id}[/] ({record.state}): pid {record.pid} ({record.agent}, "
        f"owner {record.owner}) wants [bold]{record.tool}[/], {record.risk} risk: {escape(record.why)}"
    )
    console.print(escape(json.dumps(record.arguments, indent=2)))
    if record.preview is not None:
        console.print("[bold]dry run:[/]")
        console.print(escape(_preview_text(record.preview)))
    if record.decided_by:
        console.print(f"decided by {record.decided_by}: {escape(record.reason) or '-'}")


def _decide(approval_id: int, state: str, reason: str) -> None:
    from aios.kernel.store import ProcessStore

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


class Decides(Protocol):
    """Whatever takes the answer: the kernel of `aios run`, or a daemon's API."""

    async def decide(self, approval_id: int, approve: bool, *, by: str) -> object: ...


class Prompter:
    """In `aios run`: asks at the terminal when an operation waits for approval (or says how to answer)."""

    def __init__(self, kernel: Decides, loop: asyncio.AbstractEventLoop) -> None:
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
                f"see `aios approvals {approval_id}`, then `aios approve {approval_id}` "
                f"or `aios deny {approval_id}`"
            )
            return
        task = self.loop.create_task(self._ask(approval_id, event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _ask(self, approval_id: int, event: KernelEvent) -> None:
        preview = event.detail.get("preview")
        if preview is not None:
            console.print(f"[bold]dry run of {event.target}:[/]\n{escape(_preview_text(preview))}")
        arguments = escape(json.dumps(event.detail.get("arguments", {}))[:300])
        why = escape(str(event.detail.get("why")))
        question = f"pid {event.pid} wants {event.target} {arguments} ({why}). Allow? \\[y/N] "
        console.print(f"[bold yellow]approval {approval_id}[/]: {question}", end="")
        answer = await _read_line(self.loop)
        try:
            await self.kernel.decide(
                approval_id, answer.strip().lower() in ("y", "yes"), by=f"{_who()} (aios run prompt)"
            )
        except Exception as e:  # decided elsewhere meanwhile, or the kernel went away
            console.print(f"[dim]{escape(str(e))}[/]")
