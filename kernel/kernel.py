"""The kernel's face: processes and their syscalls, over parts with one job each.

    Kernel ─┬─ ProcessTable     live processes, written through to the store
            ├─ SyscallRouter    validate, audit (Auditor), route by kind
            │   ├─ LLMPath      capability, memory, fencing, prepare ─► Dispatcher ─► Scheduler (plan)
            │   ├─ ToolGate     capability, approval (ApprovalDesk), dry run, driver call in its slot
            │   └─ MemoryGlue   memory syscalls through the memory manager's port
            ├─ KVLifecycle      pause decisions, tool-pause statistics, the KV column of `aios ps`
            └─ EventBus         what the CLI (and later the daemon) watch

Only `aios.boot` builds one; everything else holds it as a `KernelAPI` (see `contracts`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aios.kernel.access import user_defaults
from aios.kernel.approval_desk import ApprovalDesk
from aios.kernel.approvals import ApprovalPolicy, ApprovalRecord
from aios.kernel.auditor import Auditor
from aios.kernel.contracts import Program
from aios.kernel.dispatcher import Dispatcher
from aios.kernel.drivers import Driver, Operation
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import AgentFailed, InvalidSyscall, KernelShutDown, UserError
from aios.kernel.events import EventBus, KernelEvent
from aios.kernel.images import ImageLimits
from aios.kernel.journal import Journal
from aios.kernel.kv_lifecycle import KVLifecycle
from aios.kernel.kv_policy import CostModelPolicy, KVPolicy, ToolDurations
from aios.kernel.llm_path import LLMPath
from aios.kernel.memory_glue import MemoryGlue
from aios.kernel.memory_port import MemoryPort
from aios.kernel.process_table import LiveProcess, ProcessTable
from aios.kernel.records import ProcessRecord, ProcessState
from aios.kernel.records_view import StoredRecords
from aios.kernel.router import SyscallRouter
from aios.kernel.scheduler import Scheduler, SchedulerPolicy
from aios.kernel.store import ProcessStore
from aios.kernel.syscalls import LLMResult, LLMSyscall, SyscallResult, ToolSpec
from aios.kernel.tool_gate import ToolGate

logger = logging.getLogger(__name__)

SEED_PAUSES_FROM_ROWS = 5000
"""Audit rows read at start to seed the tool-pause statistics."""


class Kernel:
    """Owns the process table, the scheduler, the engines and the drivers."""

    def __init__(
        self,
        *,
        store: ProcessStore,
        engines: EngineRegistry,
        drivers: Mapping[str, Driver],
        policy: SchedulerPolicy,
        workdir_root: Path,
        kv_policy: KVPolicy | None = None,
        durations: ToolDurations | None = None,
        memory: MemoryPort | None = None,
        approvals: ApprovalPolicy | None = None,
        image_limits: ImageLimits | None = None,
    ) -> None:
        self.store = store
        self.engines = engines
        self.memory = memory
        self.events = EventBus()
        self.table = ProcessTable(store)
        self.scheduler = Scheduler(policy)
        self.dispatcher = Dispatcher(self.scheduler, self.events)
        self.kv = KVLifecycle(
            self.table, engines, kv_policy or CostModelPolicy(), durations or ToolDurations()
        )
        self.desk = ApprovalDesk(store, self.events, approvals or ApprovalPolicy())
        self.tools = ToolGate(self.table, drivers, self.desk, self.kv, workdir_root)
        memory_glue = MemoryGlue(memory)
        self.journal = Journal(store)
        self.router = SyscallRouter(
            self.table,
            Auditor(store, self.events),
            engines,
            LLMPath(
                self.table,
                engines,
                self.dispatcher,
                self.kv,
                memory_glue,
                workdir=self.tools.workdir,
                image_limits=image_limits or ImageLimits(),
            ),
            self.tools,
            memory_glue,
            self.journal,
        )
        self.records = StoredRecords(store, engines, self.process)
        """What the daemon's API reads (`contracts.KernelRecords`)."""
        self._closed = False
        self._interrupting = False

    # ---- parts some callers configure directly (tests, benchmarks) ------------------------------------

    @property
    def drivers(self) -> dict[str, Driver]:
        return self.tools.drivers

    @property
    def policy(self) -> SchedulerPolicy:
        return self.scheduler.policy

    @policy.setter
    def policy(self, policy: SchedulerPolicy) -> None:
        self.scheduler.policy = policy

    @property
    def approval_policy(self) -> ApprovalPolicy:
        return self.desk.policy

    @approval_policy.setter
    def approval_policy(self, policy: ApprovalPolicy) -> None:
        self.desk.policy = policy

    # ---- the kernel API ----------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[KernelEvent], None]) -> Callable[[], None]:
        """Call `listener` for every event; returns a function that unsubscribes."""
        return self.events.subscribe(listener)

    async def spawn(
        self,
        program: Program,
        *,
        agent: str,
        task: str,
        capabilities: list[str],
        owner: str = "local",
        priority: int = 0,
        model: str | None = None,
        parent_pid: int | None = None,
        session: str | None = None,
        background: bool = False,
        entry: str | None = None,
        isolated: bool = False,
    ) -> int:
        """Create a process that runs `program`; returns its pid at once.

        `session` names the dialogue whose short-term memory pages the process continues (default: its own).
        `entry` names what `program` runs (an installed agent, or `module:Class`): a process with one has
        its syscalls journaled, and can be resumed after its kernel stops.
        """
        if self._closed:
            raise KernelShutDown("the kernel is shut down")
        if model is not None:
            self.engines.resolve(model)
        record = ProcessRecord(
            pid=0,
            agent=agent,
            owner=owner,
            state=ProcessState.READY,
            task=task,
            capabilities=capabilities,
            parent_pid=parent_pid,
            priority=priority,
            model=model,
            created_at=time.time(),
            host_pid=os.getpid(),
            entry=entry,
            isolated=isolated,
        )
        proc = await self.table.create(record, session=session, background=background)
        proc.task = asyncio.create_task(self._run(proc, program), name=f"aios-pid-{proc.pid}")
        self.kv.watch()
        self.events.emit(KernelEvent(kind="spawned", pid=proc.pid, target=agent, detail={"task": task}))
        return proc.pid

    async def resume(
        self, pid: int, program: Program, *, capabilities: list[str] | None = None
    ) -> ProcessRecord:
        """Run an interrupted process again: `program` (its code, started afresh) has its syscalls
        answered from the journal until it asks for something new, then it goes on live. With
        `capabilities` it holds those (never more than it held: the caller narrows)."""
        if self._closed:
            raise KernelShutDown("the kernel is shut down")
        record = self.table.record(pid)
        if record.state != ProcessState.INTERRUPTED:
            raise UserError(f"process {pid} is {record.state.value}; only interrupted processes resume")
        fresh: dict[str, Any] = {"state": ProcessState.READY, "error": None, "ended_at": None}
        fresh["host_pid"] = os.getpid()
        if capabilities is not None:
            fresh["capabilities"] = capabilities
        proc = self.table.adopt(record.model_copy(update=fresh))
        await self.journal.load(proc)
        proc.task = asyncio.create_task(self._run(proc, program), name=f"aios-pid-{pid}")
        self.kv.watch()
        self.events.emit(
            KernelEvent(
                kind="resumed", pid=pid, target=record.agent, detail={"journaled": len(proc.replay or [])}
            )
        )
        return proc.record

    async def syscall(self, pid: int, request: BaseModel | dict[str, Any]) -> SyscallResult:
        """The one entry point of every syscall."""
        return await self.router.syscall(pid, request)

    async def pause(self, pid: int, tool: str) -> dict[str, Any] | None:
        """The process went off to `tool` outside the kernel: the KV policy decides as for a driver call."""
        proc = self.table.require_live(pid)
        if proc.record.state.is_terminal:
            raise InvalidSyscall(f"process {pid} has already ended ({proc.record.state.value})", pid=pid)
        return await self.kv.pause(proc, tool)

    def process(self, pid: int) -> ProcessRecord:
        """The live record of a process of this kernel, else the stored one."""
        return self.table.record(pid)

    async def wait(self, pid: int) -> ProcessRecord:
        """Wait for a process to end and release what it held; returns its final record."""
        proc = self.table.live(pid)
        if proc is None:
            return self.table.record(pid)
        await proc.done.wait()
        return proc.record

    async def kill(self, pid: int) -> ProcessRecord:
        """Kill a process: its queued calls are dropped, in-flight ones cancelled, its engine slots freed."""
        proc = self.table.require_live(pid)
        if proc.record.state.is_terminal:
            return proc.record
        proc.killed = True
        self.dispatcher.drop(pid)
        if proc.task is not None:
            proc.task.cancel()
            await asyncio.wait({proc.task})
        return proc.record

    def tool_specs(self, pid: int) -> list[ToolSpec]:
        """The operations a process may call, described for its model."""
        return self.tools.specs(self.process(pid).capabilities)

    def tool_operations(self, pid: int) -> dict[str, Operation]:
        """The operations a process may call by syscall name, with their risk (what MCP clients are told)."""
        return self.tools.operations(self.process(pid).capabilities)

    def user_capabilities(self) -> list[str]:
        """What a user of the daemon may hold unless an admin grants more (see `access.user_defaults`)."""
        return user_defaults(self.drivers.values())

    def workdir(self, pid: int) -> Path:
        """The process's private, writable folder (created on first use)."""
        return self.tools.workdir(pid)

    async def decide(self, approval_id: int, approve: bool, *, by: str, reason: str = "") -> ApprovalRecord:
        """Approve or deny a pending request (the prompt of `aios run`; `aios approve` writes the store)."""
        return await self.desk.decide(approval_id, approve, by=by, reason=reason)

    # ---- a process's life --------------------------------------------------------------------------

    async def _run(self, proc: LiveProcess, program: Program) -> None:
        self.table.update(proc, state=ProcessState.RUNNING, started_at=time.time())
        try:
            result = await program(proc.pid)
        except asyncio.CancelledError:
            if proc.killed:
                self._finish(proc, ProcessState.KILLED, error="killed")
            elif self._interrupting and proc.record.entry is not None:
                self._finish(
                    proc,
                    ProcessState.INTERRUPTED,
                    error=f"interrupted: the kernel shut down; `aios resume {proc.pid}` finishes it",
                )
                raise
            else:
                self._finish(proc, ProcessState.KILLED, error="cancelled: the kernel shut down")
                raise
        except Exception as e:
            if proc.failure is not None:  # the kernel stopped it (replay diverged): that is why it ended
                self._finish(proc, ProcessState.FAILED, error=proc.failure)
            elif isinstance(e, AgentFailed):  # an isolated agent's own error, formatted where it happened
                self._finish(proc, ProcessState.FAILED, error=e.message, traceback=e.traceback)
            else:
                error = f"{type(e).__name__}: {e}"
                self._finish(proc, ProcessState.FAILED, error=error, traceback=traceback.format_exc())
        else:
            if proc.failure is not None:
                self._finish(proc, ProcessState.FAILED, error=proc.failure)
            else:
                self._finish(proc, ProcessState.DONE, result=None if result is None else str(result))
        finally:
            try:
                await self._release(proc)
            finally:
                proc.done.set()  # after the releases: a waiter may rely on the process's devices being free
                self.table.retire(proc)

    def _finish(self, proc: LiveProcess, state: ProcessState, **fields: Any) -> None:
        self.table.finish(proc, state, **fields)
        self.events.emit(
            KernelEvent(
                kind="exited",
                pid=proc.pid,
                status=state.value,
                detail={"result": fields.get("result"), "error": fields.get("error")},
            )
        )

    async def _release(self, proc: LiveProcess) -> None:
        """Give back what engines and drivers hold for an ended process (KV sequence, browser context)."""
        for name in proc.engines_used:
            await self.engines.get(name).release(proc.pid)
        for name in await self.tools.release(proc):
            logger.error("driver %s could not release pid %d", name, proc.pid)

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Seed the tool-pause statistics from the audit log; start the memory manager's services."""
        rows = await asyncio.to_thread(
            self.store.recent_audit, kinds=("llm", "tool"), limit=SEED_PAUSES_FROM_ROWS
        )
        seeded = self.kv.seed(rows)
        logger.debug("tool-pause statistics seeded with %d pauses from the audit log", seeded)
        if self.memory is not None:
            await self.memory.start(_MemoryServices(self))

    async def shutdown(self, *, close_engines: bool = True, interrupt: bool = False) -> None:
        """Stop what still runs, close memory, drivers (and engines unless shared), and close the store.

        With `interrupt`, resumable processes end `interrupted` (to be resumed later) instead of killed.
        """
        if self._closed:
            return
        self._closed = True
        self._interrupting = interrupt
        for proc in self.table.all_live():
            if not proc.record.state.is_terminal:
                if interrupt and proc.task is not None:
                    self.dispatcher.drop(proc.pid)
                    proc.task.cancel()
                    await asyncio.wait({proc.task})
                else:
                    await self.kill(proc.pid)
        if self.memory is not None:
            await self.memory.close()
        for name in await self.tools.close():
            logger.error("closing driver %s failed", name)
        await self.kv.close()
        if close_engines:
            await self.engines.close()
        await asyncio.to_thread(self.store.close)


class _MemoryServices:
    """The memory manager's narrow view of the kernel (`contracts.MemoryServices`)."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    async def spawn_background(self, program: Program, *, agent: str, task: str) -> int:
        return await self._kernel.spawn(
            program, agent=agent, task=task, capabilities=["llm"], owner="kernel", background=True
        )

    async def llm(self, pid: int, request: LLMSyscall) -> LLMResult:
        result = await self._kernel.syscall(pid, request)
        assert isinstance(result, LLMResult), f"llm syscall answered with {type(result).__name__}"
        return result

    def is_running(self, pid: int) -> bool:
        return not self._kernel.process(pid).state.is_terminal
