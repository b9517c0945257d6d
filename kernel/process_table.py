"""The live processes of this kernel and their persisted rows: one place changes a process record."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aios.kernel.errors import UnknownProcess
from aios.kernel.records import ProcessRecord, ProcessState
from aios.kernel.store import ProcessStore

RETAINED_ENDED = 1000
"""Ended processes kept in memory (for `wait` and events without a database read); older ones live only
in the store, so a long-running daemon's memory does not grow with every process it ever ran."""


@dataclass(eq=False, kw_only=True)
class LiveProcess:
    """A process of this kernel: its record plus what only the running kernel knows."""

    record: ProcessRecord
    session: str
    """Memory session: short-term dialogue pages are kept per session."""
    background: bool = False
    """Kernel housekeeping (the memory pager): its LLM calls yield to everyone else's."""
    task: asyncio.Task[Any] | None = None
    killed: bool = False
    inflight: int = 0
    """Syscalls in progress: the process is `running` again only when none is."""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    engines_used: set[str] = field(default_factory=set)
    drivers_used: set[str] = field(default_factory=set)
    """Drivers that may hold state for this process (a browser context), released when it ends."""
    tainted_by: str | None = None
    """First tool whose output the process received: from then on it may carry injected instructions."""
    last_engine: str | None = None
    """Engine of the process's latest LLM call (the one holding its KV cache)."""
    cached_tokens: int = 0
    """Prompt plus output tokens of that call: the size of the cache a pause decision is about."""
    last_llm_end: float | None = None
    paused_for: str | None = None
    """Tool the process went off to after its latest LLM call; its duration is measured at return."""
    pause_decision: dict[str, Any] | None = None
    """What the KV policy decided for that pause (recorded with the pause on the next LLM call)."""
    replay: list[dict[str, Any]] | None = None
    """A resumed process's journal entries not yet asked for again (see `journal`)."""
    journal_seq: int = 0
    failure: str | None = None
    """Why the process can no longer go on (its replay diverged): further syscalls are refused with it,
    and it ends `failed` with it, whatever its program does."""

    @property
    def pid(self) -> int:
        return self.record.pid


class ProcessTable:
    """Live processes by pid, written through to the store (which other readers such as `aios ps` see)."""

    def __init__(self, store: ProcessStore) -> None:
        self.store = store
        self._live: dict[int, LiveProcess] = {}  # pid -> live process
        self._ended: OrderedDict[int, LiveProcess] = OrderedDict()  # the latest ended, oldest first

    async def create(self, record: ProcessRecord, *, session: str | None, background: bool) -> LiveProcess:
        pid = await asyncio.to_thread(self.store.create_process, record)
        proc = LiveProcess(
            record=record.model_copy(update={"pid": pid}),
            session=session or f"pid-{pid}",
            background=background,
        )
        self._live[pid] = proc
        return proc

    def adopt(self, record: ProcessRecord) -> LiveProcess:
        """Take a stored process back into this kernel (to resume it), under its own pid."""
        proc = LiveProcess(record=record, session=f"pid-{record.pid}")
        self._ended.pop(record.pid, None)
        self._live[record.pid] = proc
        self.store.update_process(
            record.pid, **{k: _stored(v) for k, v in record.model_dump().items() if k != "pid"}
        )
        return proc

    def update(self, proc: LiveProcess, **fields: Any) -> None:
        """Change a process's record here and, queued, in the store."""
        proc.record = proc.record.model_copy(update=fields)
        self.store.update_process(proc.pid, **{k: _stored(v) for k, v in fields.items()})

    def count(self, proc: LiveProcess, **increments: float) -> None:
        """Add to a process's counters (LLM calls, tokens, tool calls, queue wait)."""
        record = proc.record
        self.update(proc, **{name: getattr(record, name) + n for name, n in increments.items()})

    def enter(self, proc: LiveProcess, state: ProcessState) -> None:
        """A syscall starts: the process waits on it (on an LLM, a tool or a human)."""
        proc.inflight += 1
        if proc.record.state != state:
            self.update(proc, state=state)

    def leave(self, proc: LiveProcess) -> None:
        proc.inflight -= 1
        if proc.inflight == 0 and not proc.record.state.is_terminal:
            self.update(proc, state=ProcessState.RUNNING)

    def finish(self, proc: LiveProcess, state: ProcessState, **fields: Any) -> None:
        self.update(
            proc,
            state=state,
            ended_at=time.time(),
            kv_state=None,
            kv_tokens=0,
            kv_host_bytes=0,
            **fields,
        )

    def retire(self, proc: LiveProcess) -> None:
        """An ended process leaves memory (its row stays in the store); the latest few stay at hand."""
        self._live.pop(proc.pid, None)
        self._ended[proc.pid] = proc
        while len(self._ended) > RETAINED_ENDED:
            self._ended.popitem(last=False)

    def live(self, pid: int) -> LiveProcess | None:
        """A process of this kernel: running, or ended recently."""
        return self._live.get(pid) or self._ended.get(pid)

    def require_live(self, pid: int) -> LiveProcess:
        proc = self.live(pid)
        if proc is None:
            raise UnknownProcess(f"no live process {pid} in this kernel")
        return proc

    def all_live(self) -> list[LiveProcess]:
        return list(self._live.values())

    def record(self, pid: int) -> ProcessRecord:
        """The live record of a process of this kernel, else the stored one."""
        proc = self.live(pid)
        if proc is not None:
            return proc.record
        stored = self.store.get_process(pid)
        if stored is None:
            raise UnknownProcess(f"no process {pid}")
        return stored


def _stored(value: Any) -> Any:
    return value.value if isinstance(value, ProcessState) else value
