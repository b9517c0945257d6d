"""The one place that applies the scheduler's plans to the engines, and reports back what happened."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from aios.kernel.engines.interface import Engine, PreparedCall, Yielded
from aios.kernel.errors import AiosError, EngineError, ProcessKilled
from aios.kernel.events import EventBus, KernelEvent
from aios.kernel.scheduler import QueuedCall, Run, Scheduler
from aios.kernel.syscalls import LLMResult

logger = logging.getLogger(__name__)


@dataclass(eq=False, kw_only=True)
class Ticket:
    """A queued call's link to its engine and to the syscall awaiting it."""

    prepared: PreparedCall
    engine: Engine
    future: asyncio.Future[LLMResult]
    task: asyncio.Task[None] | None = None
    started_at: float = 0.0
    """`time.monotonic()` of its first start (its queue wait ends there)."""
    preemptions: int = 0


class Dispatcher:
    """Pumps after every change (a call queued, a slice spent, a call ended, a process killed):
    plan with the scheduler, then apply the plan."""

    def __init__(self, scheduler: Scheduler, events: EventBus) -> None:
        self.scheduler = scheduler
        self.events = events
        self.preemptions = 0
        """Preemptions decided so far (benchmarks and tests read it)."""
        self._timer: asyncio.TimerHandle | None = None

    def submit(self, call: QueuedCall, prepared: PreparedCall, engine: Engine) -> Ticket:
        """Queue a call; its ticket's future resolves with the result (or the error)."""
        self.scheduler.add_engine(engine.name, engine.capacity())
        ticket = Ticket(prepared=prepared, engine=engine, future=asyncio.get_running_loop().create_future())
        call.payload = ticket
        self.scheduler.submit(call)
        self._tell("syscall_queued", call, {"engine": engine.name, "cells": call.cells_needed})
        self.pump()
        return ticket

    def abandon(self, call: QueuedCall) -> None:
        """The syscall awaiting `call` was cancelled: take it out of line or stop its engine run."""
        ticket = _ticket(call)
        if self.scheduler.withdraw(call):
            self.pump()
        elif ticket.task is not None and not ticket.task.done():
            ticket.task.cancel()

    def drop(self, pid: int) -> None:
        """A process is being killed: its queued calls fail with ProcessKilled."""
        for call in self.scheduler.remove(pid):
            future = _ticket(call).future
            if not future.done():
                future.set_exception(ProcessKilled("killed while queued", pid=pid))
        self.pump()

    def pump(self) -> None:
        plan = self.scheduler.schedule(time.monotonic())
        for run in [*plan.start, *plan.resume]:
            self._launch(run)
        for call in plan.preempt:
            _ticket(call).preemptions += 1
            self.preemptions += 1
            self._tell("syscall_preempted", call, {"engine": call.engine})
        self._arm_aging_timer()

    def _tell(
        self, kind: Literal["syscall_queued", "syscall_preempted"], call: QueuedCall, detail: dict[str, Any]
    ) -> None:
        if self.events.active:
            self.events.emit(
                KernelEvent(
                    kind=kind,
                    pid=call.pid,
                    syscall_id=call.syscall_id,
                    syscall="llm",
                    target=call.engine,
                    detail=detail,
                )
            )

    def _launch(self, run: Run) -> None:
        ticket = _ticket(run.call)
        if not ticket.started_at:
            ticket.started_at = time.monotonic()
        ticket.task = asyncio.create_task(
            self._run(run.call, ticket, run.budget_tokens), name=f"aios-llm-{run.call.syscall_id}"
        )

    async def _run(self, call: QueuedCall, ticket: Ticket, budget: int | None) -> None:
        try:
            outcome = await ticket.engine.run(ticket.prepared, budget_tokens=budget)
        except asyncio.CancelledError:
            self.scheduler.on_finish(call)
            _fail(ticket, ProcessKilled("cancelled while generating", pid=call.pid))
            self.pump()
            raise
        except AiosError as e:
            self.scheduler.on_finish(call)
            _fail(ticket, e)
        except Exception as e:
            logger.exception("engine %s failed", ticket.engine.name)
            self.scheduler.on_finish(call)
            _fail(ticket, EngineError(f"engine {ticket.engine.name} failed: {e}", pid=call.pid))
        else:
            if isinstance(outcome, Yielded):
                self.scheduler.on_yield(call)
            else:
                self.scheduler.on_finish(call)
                if not ticket.future.done():
                    ticket.future.set_result(outcome)
        self.pump()

    def _arm_aging_timer(self) -> None:
        """Background calls age into the foreground by time alone: plan again when one does."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        delay = self.scheduler.next_aging_in(time.monotonic())
        if delay is not None:
            self._timer = asyncio.get_running_loop().call_later(delay + 0.001, self.pump)


def _ticket(call: QueuedCall) -> Ticket:
    assert isinstance(call.payload, Ticket), "every queued call carries its dispatcher ticket"
    return call.payload


def _fail(ticket: Ticket, error: Exception) -> None:
    if not ticket.future.done():
        ticket.future.set_exception(error)
