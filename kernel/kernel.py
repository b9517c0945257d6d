"""The kernel: process lifecycle and the syscall path (validate, check, queue, run, time, audit)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aios.kernel.access import LLM_CAPABILITY, grants, require
from aios.kernel.approvals import ApprovalPolicy, ApprovalRecord
from aios.kernel.drivers import CallContext, Driver, Operation
from aios.kernel.engines.interface import Engine
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import (
    AiosError,
    GenerationPreempted,
    InvalidSyscall,
    PermissionDenied,
    ProcessKilled,
    ToolError,
    ToolTimeout,
    UnknownApproval,
    UnknownProcess,
    describe_validation,
)
from aios.kernel.events import KernelEvent
from aios.kernel.kv_policy import DEFAULT_CALIBRATION, CostModelPolicy, KVPolicy, Pause, ToolDurations
from aios.kernel.memory_port import MemoryPort, MemoryScope
from aios.kernel.records import AuditRow, ProcessRecord, ProcessState
from aios.kernel.scheduler import QueuedCall, SchedulerPolicy
from aios.kernel.store import ProcessStore
from aios.kernel.syscalls import (
    SYSCALL_ADAPTER,
    LLMResult,
    LLMSyscall,
    MemoryResult,
    MemorySyscall,
    NoopResult,
    NoopSyscall,
    SyscallResult,
    ToolResult,
    ToolSpec,
    ToolSyscall,
)
from aios.kernel.untrusted import mark_untrusted

logger = logging.getLogger(__name__)

KV_MONITOR_PERIOD_S = 0.5
APPROVAL_POLL_S = 0.25
"""How often a blocked process looks for a decision made by `aios approve` in another process."""

Program = Callable[[int], Awaitable[Any]]
"""What a process runs: given its pid, a coroutine whose value is the process's result."""


@dataclass(eq=False)
class _Process:
    record: ProcessRecord
    task: asyncio.Task[Any] | None = None
    killed: bool = False
    inflight: int = 0
    engines_used: set[str] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    last_engine: str | None = None
    """Engine of the process's latest LLM call (the one holding its KV cache)."""
    cached_tokens: int = 0
    """Prompt plus output tokens of that call: the size of the cache a pause decision is about."""
    last_llm_end: float | None = None
    paused_for: str | None = None
    """Tool the process went off to after its latest LLM call; its duration is measured at return."""
    session: str = ""
    """Memory session: short-term dialogue pages are kept per session."""
    background: bool = False
    """Kernel housekeeping (the memory pager): its LLM calls run only when no other call waits."""
    drivers_used: set[str] = field(default_factory=set)
    """Drivers that may hold state for this process (a browser context), released when it ends."""
    tainted_by: str | None = None
    """First tool whose output the process received: from then on it may carry injected instructions."""


@dataclass(eq=False)
class _LLMCall:
    request: LLMSyscall
    engine: Engine
    future: asyncio.Future[LLMResult]
    started_at: float = 0.0
    task: asyncio.Task[None] | None = None
    cancelled: bool = False
    resume: object | None = None
    """Handle of a preempted generation to continue."""


class Kernel:
    """Owns the process table, the scheduler queue, the engines and the drivers."""

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
    ) -> None:
        self.store = store
        self.memory = memory
        self.approval_policy = approvals or ApprovalPolicy()
        self._approval_waiters: dict[int, asyncio.Future[ApprovalRecord]] = {}
        self.engines = engines
        self.drivers = dict(drivers)
        self.policy = policy
        self.workdir_root = workdir_root
        self.kv_policy = kv_policy or CostModelPolicy()
        self.durations = durations or ToolDurations()
        self.queue_delay_s = 0.0
        """Moving average of LLM queue waits (the T of the TTL trade-off)."""
        self._kv_monitor: asyncio.Task[None] | None = None
        self._procs: dict[int, _Process] = {}  # pid -> live process
        self._seq = itertools.count()
        self._engine_inflight: dict[str, int] = {}  # engine name -> calls running on it
        self._idle_calls: deque[QueuedCall] = deque()  # background calls, run when the policy has none
        self._driver_slots: dict[str, asyncio.Semaphore] = {}
        self._opened_drivers: set[str] = set()
        self._listeners: list[Callable[[KernelEvent], None]] = []
        self._closed = False

    # ---- events ----------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[KernelEvent], None]) -> Callable[[], None]:
        """Call `listener` for every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: KernelEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener failed")

    # ---- processes -------------------------------------------------------------------------------

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
    ) -> int:
        """Create a process that runs `program`; returns its pid at once.

        `session` names the dialogue whose short-term memory pages the process continues (default: its own).
        """
        if self._closed:
            raise AiosError("the kernel is shut down")
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
        )
        pid = await asyncio.to_thread(self.store.create_process, record)
        proc = _Process(
            record=record.model_copy(update={"pid": pid}),
            session=session or f"pid-{pid}",
            background=background,
        )
        self._procs[pid] = proc
        proc.task = asyncio.create_task(self._run(proc, program), name=f"aios-pid-{pid}")
        self._watch_kv()
        self._emit(KernelEvent(kind="spawned", pid=pid, target=agent, detail={"task": task}))
        return pid

    async def _run(self, proc: _Process, program: Program) -> None:
        pid = proc.record.pid
        self._set_state(proc, ProcessState.RUNNING, started_at=time.time())
        try:
            result = await program(pid)
        except asyncio.CancelledError:
            if not proc.killed:
                self._finish(proc, ProcessState.KILLED, error="cancelled: the kernel shut down")
                raise
            self._finish(proc, ProcessState.KILLED, error="killed")
        except Exception as e:
            self._finish(
                proc, ProcessState.FAILED, error=f"{type(e).__name__}: {e}", tb=traceback.format_exc()
            )
        else:
            self._finish(proc, ProcessState.DONE, result=None if result is None else str(result))
        finally:
            try:
                await self._release(proc)
            finally:
                proc.done.set()  # after the releases: a waiter may rely on the process's devices being free

    async def _release(self, proc: _Process) -> None:
        """Give back what engines and drivers hold for an ended process (KV sequence, browser context)."""
        pid = proc.record.pid
        for name in proc.engines_used:
            await self.engines.get(name).release(pid)
        for name in proc.drivers_used:
            try:
                await self.drivers[name].release(pid)
            except Exception:
                logger.exception("driver %s could not release pid %d", name, pid)

    def _set_state(self, proc: _Process, state: ProcessState, **fields: Any) -> None:
        proc.record = proc.record.model_copy(update={"state": state, **fields})
        self.store.update_process(proc.record.pid, state=state.value, **fields)

    def _finish(
        self,
        proc: _Process,
        state: ProcessState,
        *,
        result: str | None = None,
        error: str | None = None,
        tb: str | None = None,
    ) -> None:
        self._set_state(
            proc,
            state,
            result=result,
            error=error,
            traceback=tb,
            ended_at=time.time(),
            kv_state=None,
            kv_tokens=0,
            kv_host_bytes=0,
        )
        self._emit(
            KernelEvent(
                kind="exited",
                pid=proc.record.pid,
                status=state.value,
                detail={"result": result, "error": error},
            )
        )

    async def wait(self, pid: int) -> ProcessRecord:
        """Wait for a process to end and return its final record."""
        proc = self._procs.get(pid)
        if proc is None:
            record = self.store.get_process(pid)
            if record is None:
                raise UnknownProcess(f"no process {pid}")
            return record
        await proc.done.wait()
        return proc.record

    async def kill(self, pid: int) -> ProcessRecord:
        """Kill a process: its queued calls are dropped, in-flight ones cancelled, its engine slots freed."""
        proc = self._procs.get(pid)
        if proc is None:
            raise UnknownProcess(f"no live process {pid} in this kernel")
        if proc.record.state.is_terminal:
            return proc.record
        proc.killed = True
        idle = [c for c in self._idle_calls if c.pid == pid]
        self._idle_calls = deque(c for c in self._idle_calls if c.pid != pid)
        for call in [*self.policy.remove(pid), *idle]:
            llm_call: _LLMCall = call.payload  # type: ignore[assignment]
            if not llm_call.future.done():
                llm_call.future.set_exception(ProcessKilled("killed while queued", pid=pid))
        if proc.task is not None:
            proc.task.cancel()
            await asyncio.wait({proc.task})
        return proc.record

    def process(self, pid: int) -> ProcessRecord:
        """The live record of a process of this kernel, else the stored one."""
        proc = self._procs.get(pid)
        if proc is not None:
            return proc.record
        record = self.store.get_process(pid)
        if record is None:
            raise UnknownProcess(f"no process {pid}")
        return record

    def tool_specs(self, pid: int) -> list[ToolSpec]:
        """The operations a process may call, described for its model."""
        capabilities = self.process(pid).capabilities
        specs = []
        for driver in self.drivers.values():
            for op in driver.operations().values():
                if grants(capabilities, op.capability):
                    specs.append(
                        ToolSpec(
                            name=f"{driver.name}.{op.name}",
                            description=op.description,
                            parameters=op.json_schema(),
                        )
                    )
        return specs

    def workdir(self, pid: int) -> Path:
        """The process's private, writable folder (created on first use)."""
        path = self.workdir_root / str(pid)
        if not path.is_dir():
            # owner-only: what a sandboxed command leaves there is no one else's to open or run
            self.workdir_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.workdir_root.chmod(0o700)
            path.mkdir(mode=0o700, exist_ok=True)
        return path

    # ---- syscalls --------------------------------------------------------------------------------

    async def syscall(self, pid: int, request: BaseModel | dict[str, Any]) -> SyscallResult:
        """The one entry point of every syscall."""
        proc = self._procs.get(pid)
        if proc is None:
            raise UnknownProcess(f"no live process {pid}")
        if proc.record.state.is_terminal:
            raise InvalidSyscall(f"process {pid} has already ended ({proc.record.state.value})", pid=pid)
        syscall_id = f"{pid}.{next(self._seq)}"
        if isinstance(request, dict):
            try:
                request = SYSCALL_ADAPTER.validate_python(request)
            except ValidationError as e:
                self._audit(proc, syscall_id, "invalid", "", "error", error=describe_validation(e))
                raise InvalidSyscall(
                    f"malformed syscall: {describe_validation(e)}", pid=pid, syscall_id=syscall_id
                ) from e
        if isinstance(request, NoopSyscall):
            self._audit(proc, syscall_id, "noop", "", "ok")
            return NoopResult()
        if isinstance(request, LLMSyscall):
            return await self._llm(proc, request, syscall_id)
        if isinstance(request, ToolSyscall):
            return await self._tool(proc, request, syscall_id)
        if isinstance(request, MemorySyscall):
            return await self._memory(proc, request, syscall_id)
        raise InvalidSyscall(f"unknown syscall type {type(request).__name__}", pid=pid, syscall_id=syscall_id)

    def _audit(
        self,
        proc: _Process,
        syscall_id: str,
        kind: str,
        target: str,
        status: str,
        *,
        error: str | None = None,
        queue_wait_us: int = 0,
        service_us: int = 0,
        tokens_in: int = 0,
        tokens_out: int = 0,
        detail: dict[str, Any] | None = None,
        event: dict[str, Any] | None = None,
    ) -> None:
        """Append the audit row; with `event`, also tell listeners the syscall finished."""
        if event is not None:
            self._emit(
                KernelEvent(
                    kind="syscall_finished",
                    pid=proc.record.pid,
                    syscall_id=syscall_id,
                    syscall=kind,
                    target=target,
                    status=status,
                    detail={**(detail or {}), **event, "error": error, "service_ms": service_us / 1000},
                )
            )
        self.store.append_audit(
            AuditRow(
                ts=time.time(),
                pid=proc.record.pid,
                syscall_id=syscall_id,
                kind=kind,
                target=target,
                status=status,
                error=error,
                queue_wait_us=queue_wait_us,
                service_us=service_us,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                detail=detail or {},
            )
        )

    def _enter(self, proc: _Process, state: ProcessState) -> None:
        proc.inflight += 1
        if proc.record.state != state:
            self._set_state(proc, state)

    def _leave(self, proc: _Process) -> None:
        proc.inflight -= 1
        if proc.inflight == 0 and not proc.record.state.is_terminal:
            self._set_state(proc, ProcessState.RUNNING)

    async def _llm(self, proc: _Process, request: LLMSyscall, syscall_id: str) -> LLMResult:
        pid = proc.record.pid
        model = request.model or proc.record.model
        original = request
        try:
            require(proc.record.capabilities, LLM_CAPABILITY, pid=pid, syscall_id=syscall_id)
            engine = await self.engines.acquire(model)
            if request.memory:
                request = await self._page_in(proc, request, engine)
            messages, untrusted = mark_untrusted(request.messages)
            if untrusted:
                request = request.model_copy(update={"messages": messages})
        except AiosError as e:
            e.pid, e.syscall_id = pid, syscall_id
            status = "denied" if isinstance(e, PermissionDenied) else "error"
            self._audit(proc, syscall_id, "llm", model or self.engines.default, status, error=str(e))
            raise
        proc.engines_used.add(engine.name)
        self._note_return(proc)
        loop = asyncio.get_running_loop()
        call = _LLMCall(request=request, engine=engine, future=loop.create_future())
        enqueued = time.monotonic()
        queued = QueuedCall(
            syscall_id=syscall_id,
            pid=pid,
            seq=next(self._seq),
            enqueued_at=enqueued,
            priority=proc.record.priority,
            engine=engine.name,
            program_arrival=proc.record.created_at,
            kv_resident=self._kv_resident(engine, pid),
            payload=call,
        )
        self._enter(proc, ProcessState.WAITING_LLM)
        self._emit(
            KernelEvent(
                kind="syscall_started", pid=pid, syscall_id=syscall_id, syscall="llm", target=engine.name
            )
        )
        if proc.background:
            self._idle_calls.append(queued)
        else:
            self.policy.push(queued)
        self._dispatch(engine)
        try:
            result = await call.future
        except asyncio.CancelledError:
            call.cancelled = True
            if call.task is not None:
                call.task.cancel()
            self._audit(proc, syscall_id, "llm", engine.name, "killed", error="cancelled")
            raise
        except AiosError as e:
            e.pid, e.syscall_id = pid, syscall_id
            self._audit(proc, syscall_id, "llm", engine.name, "error", error=str(e), event={})
            raise
        finally:
            self._leave(proc)
        finished = time.monotonic()
        proc.last_engine, proc.last_llm_end = engine.name, finished
        proc.cached_tokens = result.usage.prompt_tokens + result.usage.completion_tokens
        wait_s = max(0.0, call.started_at - enqueued)
        self.queue_delay_s = 0.8 * self.queue_delay_s + 0.2 * wait_s
        wait_us = int(wait_s * 1e6)
        service_us = int((finished - call.started_at) * 1e6)
        usage = result.usage
        record = proc.record
        proc.record = record.model_copy(
            update={
                "llm_calls": record.llm_calls + 1,
                "tokens_in": record.tokens_in + usage.prompt_tokens,
                "tokens_out": record.tokens_out + usage.completion_tokens,
                "queue_wait_ms": record.queue_wait_ms + wait_us / 1000,
            }
        )
        self.store.update_process(
            pid,
            llm_calls=proc.record.llm_calls,
            tokens_in=proc.record.tokens_in,
            tokens_out=proc.record.tokens_out,
            queue_wait_ms=proc.record.queue_wait_ms,
        )
        detail = {
            "reused_tokens": usage.reused_tokens,
            "prefilled_tokens": usage.prefilled_tokens,
            "finish_reason": result.finish_reason,
            "tool_calls": [c.name for c in result.tool_calls],
        }
        self._audit(
            proc,
            syscall_id,
            "llm",
            engine.name,
            "ok",
            queue_wait_us=wait_us,
            service_us=service_us,
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            detail=detail,
            event={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "queue_wait_ms": wait_us / 1000,
            },
        )
        if original.memory:
            await self._page_record(proc, original, result, syscall_id)
        return result

    # ---- memory ----------------------------------------------------------------------------------

    def _memory_scope(self, proc: _Process) -> MemoryScope:
        record = proc.record
        return MemoryScope(
            pid=record.pid,
            user=record.owner,
            agent=record.agent,
            session=proc.session,
            capabilities=tuple(record.capabilities),
        )

    def _memory_port(self, pid: int) -> MemoryPort:
        if self.memory is None:
            raise InvalidSyscall("memory is off in this kernel (no memory manager installed)", pid=pid)
        return self.memory

    async def _page_in(self, proc: _Process, request: LLMSyscall, engine: Engine) -> LLMSyscall:
        """`llm(memory=True)`: the memory manager assembles the prompt for the engine's context."""
        memory = self._memory_port(proc.record.pid)
        context_tokens = int(getattr(engine, "n_ctx", 0) or 8192)
        return await memory.assemble(self._memory_scope(proc), request, context_tokens)

    async def _page_record(
        self, proc: _Process, request: LLMSyscall, result: LLMResult, syscall_id: str
    ) -> None:
        """The exchange becomes a short-term page; the answer is returned even if recording it fails."""
        try:
            await self._memory_port(proc.record.pid).observe(self._memory_scope(proc), request, result)
        except Exception as e:
            logger.exception("pid %d: recording the dialogue page failed", proc.record.pid)
            self._audit(proc, syscall_id, "memory", "observe", "error", error=f"{type(e).__name__}: {e}")

    async def _memory(self, proc: _Process, request: MemorySyscall, syscall_id: str) -> MemoryResult:
        pid = proc.record.pid
        started = time.monotonic()
        try:
            result = await self._memory_port(pid).call(self._memory_scope(proc), request)
        except AiosError as e:
            e.pid, e.syscall_id = pid, syscall_id
            status = "denied" if isinstance(e, PermissionDenied) else "error"
            self._audit(proc, syscall_id, "memory", request.op, status, error=str(e), event={})
            raise
        except Exception as e:
            logger.exception("memory.%s failed", request.op)
            error = AiosError(
                f"memory.{request.op} failed: {type(e).__name__}: {e}", pid=pid, syscall_id=syscall_id
            )
            self._audit(proc, syscall_id, "memory", request.op, "error", error=str(error), event={})
            raise error from e
        service_us = int((time.monotonic() - started) * 1e6)
        self._audit(
            proc,
            syscall_id,
            "memory",
            request.op,
            "ok",
            service_us=service_us,
            detail=result.detail,
            event={},
        )
        return result

    # ---- KV cache lifecycle ----------------------------------------------------------------------

    def _note_return(self, proc: _Process) -> None:
        """A process is back from a tool call: the pause it took is one more sample for that tool."""
        if proc.paused_for is not None and proc.last_llm_end is not None:
            self.durations.record(proc.paused_for, time.monotonic() - proc.last_llm_end)
        proc.paused_for = None

    @staticmethod
    def _kv_resident(engine: Engine, pid: int) -> bool:
        return any(e.owner == pid and e.cells > 0 for e in engine.kv_entries())

    async def _pause(self, proc: _Process, tool: str) -> dict[str, Any] | None:
        """The process goes off to `tool`: decide what its KV cache deserves and tell the engine."""
        proc.paused_for = tool
        if proc.last_engine is None:
            return None
        engine = self.engines.get(proc.last_engine)
        entries = engine.kv_entries()
        n_ctx = getattr(engine, "n_ctx", 0)
        pause = Pause(
            pid=proc.record.pid,
            tool=tool,
            tokens=proc.cached_tokens,
            program_arrival=proc.record.created_at,
            pressure=sum(e.cells for e in entries) / n_ctx if n_ctx else 0.0,
            queue_delay_s=self.queue_delay_s,
        )
        decision = self.kv_policy.decide(pause, self.durations, engine.calibration or DEFAULT_CALIBRATION)
        decision = decision.model_copy(update={"program_id": proc.record.pid})
        await engine.park(proc.record.pid, decision)
        return {"action": decision.action, "ttl_s": round(decision.ttl_s, 3), "policy": self.kv_policy.name}

    def _watch_kv(self) -> None:
        if self._kv_monitor is None or self._kv_monitor.done():
            self._kv_monitor = asyncio.create_task(self._kv_monitor_loop(), name="aios-kv-monitor")

    async def _kv_monitor_loop(self) -> None:
        """Mirror each live process's KV state into the process table, for `aios ps` and `aios kv`."""
        pid_to_shown: dict[int, tuple[str | None, int, int]] = {}
        while any(not p.record.state.is_terminal for p in self._procs.values()):
            owner_to_entry = {e.owner: e for engine in self.engines.loaded() for e in engine.kv_entries()}
            for pid, proc in self._procs.items():
                if proc.record.state.is_terminal:
                    continue
                entry = owner_to_entry.get(pid)
                shown = (entry.state.value, entry.tokens, entry.host_bytes) if entry else (None, 0, 0)
                if pid_to_shown.get(pid) != shown:
                    pid_to_shown[pid] = shown
                    kv_state, kv_tokens, kv_host_bytes = shown
                    proc.record = proc.record.model_copy(
                        update={"kv_state": kv_state, "kv_tokens": kv_tokens, "kv_host_bytes": kv_host_bytes}
                    )
                    self.store.update_process(
                        pid, kv_state=kv_state, kv_tokens=kv_tokens, kv_host_bytes=kv_host_bytes
                    )
            await asyncio.sleep(KV_MONITOR_PERIOD_S)

    def _dispatch(self, engine: Engine) -> None:
        """Start queued calls on `engine` while it has free slots, in the policy's order."""
        name = engine.name
        while self._engine_inflight.get(name, 0) < engine.max_concurrency:
            queued = self.policy.pop(time.monotonic(), name) or self._pop_idle(name)
            if queued is None:
                break
            call: _LLMCall = queued.payload  # type: ignore[assignment]
            if call.cancelled or call.future.done():
                continue
            self._engine_inflight[name] = self._engine_inflight.get(name, 0) + 1
            if not call.started_at:
                call.started_at = time.monotonic()
            call.task = asyncio.create_task(self._serve(queued, call))
        engine.waiting_hint = len(self.policy)

    def _pop_idle(self, engine: str) -> QueuedCall | None:
        for queued in self._idle_calls:
            if queued.engine == engine:
                self._idle_calls.remove(queued)
                return queued
        return None

    async def _serve(self, queued: QueuedCall, call: _LLMCall) -> None:
        pid = queued.pid
        try:
            result = await call.engine.generate(
                call.request,
                owner=pid,
                program_arrival=queued.program_arrival,
                slice_tokens=self.policy.slice_tokens,
                resume=call.resume,
            )
        except GenerationPreempted as e:
            # back into the queue as a preempted call; its sequence waits in the engine
            call.resume, call.task = e.handle, None
            queued.preempted, queued.seq = True, next(self._seq)
            proc = self._procs.get(pid)
            if proc is not None and proc.background:
                self._idle_calls.appendleft(queued)
            else:
                self.policy.push(queued)
        except asyncio.CancelledError:
            if not call.future.done():
                call.future.set_exception(ProcessKilled("cancelled while generating", pid=pid))
        except AiosError as e:
            if not call.future.done():
                call.future.set_exception(e)
        except Exception as e:
            logger.exception("engine %s failed", call.engine.name)
            if not call.future.done():
                call.future.set_exception(AiosError(f"engine {call.engine.name} failed: {e}", pid=pid))
        else:
            if not call.future.done():
                call.future.set_result(result)
        finally:
            self._engine_inflight[call.engine.name] -= 1
            self._dispatch(call.engine)

    async def _tool(self, proc: _Process, request: ToolSyscall, syscall_id: str) -> ToolResult:
        pid = proc.record.pid
        try:
            driver, operation, args = self._resolve_tool(request, pid=pid, syscall_id=syscall_id)
            require(proc.record.capabilities, operation.capability, pid=pid, syscall_id=syscall_id)
            approval = await self._approve(proc, request, driver, operation, args, syscall_id)
        except AiosError as e:
            status = "denied" if isinstance(e, PermissionDenied) else "error"
            self._audit(
                proc,
                syscall_id,
                "tool",
                request.name,
                status,
                error=str(e),
                detail={"arguments": request.arguments},
            )
            raise
        kv = await self._pause(proc, request.name)
        kv = {**(kv or {}), **approval} if approval else kv
        enqueued = time.monotonic()
        self._enter(proc, ProcessState.WAITING_TOOL)
        self._emit(
            KernelEvent(
                kind="syscall_started",
                pid=pid,
                syscall_id=syscall_id,
                syscall="tool",
                target=request.name,
                detail={"arguments": request.arguments},
            )
        )
        started = enqueued
        try:
            async with self._driver_slot(driver):
                started = time.monotonic()
                await self._open_driver(driver)
                proc.drivers_used.add(driver.name)
                context = CallContext(pid=pid, workdir=self.workdir(pid))
                try:
                    output = await asyncio.wait_for(
                        driver.call(operation.name, args, context), timeout=operation.timeout_s + 5.0
                    )
                except TimeoutError as e:
                    raise ToolTimeout(f"{request.name} ran past {operation.timeout_s + 5.0:.0f}s") from e
        except asyncio.CancelledError:
            self._audit(proc, syscall_id, "tool", request.name, "killed", error="cancelled")
            raise
        except AiosError as e:
            e.pid, e.syscall_id = pid, syscall_id
            self._tool_done(proc, syscall_id, request, enqueued, started, kv, status="error", error=str(e))
            raise
        except Exception as e:
            error = ToolError(
                f"{request.name} failed: {type(e).__name__}: {e}", pid=pid, syscall_id=syscall_id
            )
            self._tool_done(
                proc, syscall_id, request, enqueued, started, kv, status="error", error=str(error)
            )
            raise error from e
        finally:
            self._leave(proc)
        self._tool_done(proc, syscall_id, request, enqueued, started, kv, status="ok", output=output)
        proc.tainted_by = proc.tainted_by or request.name
        return ToolResult(name=request.name, output=output)

    async def _open_driver(self, driver: Driver) -> None:
        if driver.name not in self._opened_drivers:
            await driver.open()
            self._opened_drivers.add(driver.name)

    def _tool_done(
        self,
        proc: _Process,
        syscall_id: str,
        request: ToolSyscall,
        enqueued: float,
        started: float,
        kv: dict[str, Any] | None,
        *,
        status: str,
        error: str | None = None,
        output: Any = None,
    ) -> None:
        now = time.monotonic()
        proc.record = proc.record.model_copy(update={"tool_calls": proc.record.tool_calls + 1})
        self.store.update_process(proc.record.pid, tool_calls=proc.record.tool_calls)
        wait_us, service_us = int((started - enqueued) * 1e6), int((now - started) * 1e6)
        self._audit(
            proc,
            syscall_id,
            "tool",
            request.name,
            status,
            error=error,
            queue_wait_us=wait_us,
            service_us=service_us,
            detail={"arguments": request.arguments, "kv": kv},
            event={"output": output},
        )

    # ---- approvals -------------------------------------------------------------------------------

    async def _approve(
        self,
        proc: _Process,
        request: ToolSyscall,
        driver: Driver,
        operation: Operation,
        args: BaseModel,
        syscall_id: str,
    ) -> dict[str, Any] | None:
        """Apply the approval policy; `ask` blocks the process until a human decides or time runs out."""
        pid = proc.record.pid
        decision, why = self.approval_policy.decide(
            request.name,
            request.arguments,
            operation.risk,
            ask_first=operation.ask_first,
            tainted_by=proc.tainted_by,
        )
        if decision == "allow":
            return None
        if decision == "deny":
            raise PermissionDenied(
                f"{request.name} is denied by policy: {why}", pid=pid, syscall_id=syscall_id
            )
        preview = await self._preview(proc, driver, operation, args)
        record = await asyncio.to_thread(
            self.store.create_approval,
            pid=pid,
            syscall_id=syscall_id,
            agent=proc.record.agent,
            owner=proc.record.owner,
            tool=request.name,
            arguments=request.arguments,
            risk=operation.risk.value,
            why=why,
            preview=preview,
            requested_at=time.time(),
        )
        waiter: asyncio.Future[ApprovalRecord] = asyncio.get_running_loop().create_future()
        self._approval_waiters[record.id] = waiter
        self._enter(proc, ProcessState.BLOCKED_APPROVAL)
        self._emit(
            KernelEvent(
                kind="approval_requested",
                pid=pid,
                syscall_id=syscall_id,
                syscall="tool",
                target=request.name,
                detail={
                    "approval": record.id,
                    "arguments": request.arguments,
                    "why": why,
                    "preview": preview,
                },
            )
        )
        try:
            async with asyncio.timeout(self.approval_policy.timeout_s):
                decided = await self._decision(record.id, waiter)
        except TimeoutError:
            decided = await self._settle_approval(record.id, "expired", "timeout", "nobody answered in time")
        except asyncio.CancelledError:
            await asyncio.shield(self._settle_approval(record.id, "cancelled", "kernel", "the process ended"))
            raise
        finally:
            self._approval_waiters.pop(record.id, None)
            self._leave(proc)
        self._emit(
            KernelEvent(
                kind="approval_decided",
                pid=pid,
                syscall_id=syscall_id,
                target=request.name,
                status=decided.state,
                detail={"approval": record.id, "by": decided.decided_by, "reason": decided.reason},
            )
        )
        if decided.state != "approved":
            reason = f": {decided.reason}" if decided.reason else ""
            raise PermissionDenied(
                f"{request.name} was {decided.state} (approval {record.id}, by {decided.decided_by}){reason}",
                pid=pid,
                syscall_id=syscall_id,
            )
        return {"approval": record.id, "approved_by": decided.decided_by}

    async def _preview(
        self, proc: _Process, driver: Driver, operation: Operation, args: BaseModel
    ) -> Any | None:
        """The driver's dry run of the call, so the human decides on what would change, not on arguments.

        A dry run that fails ends the call here: nobody is asked to approve what cannot work.
        """
        pid = proc.record.pid
        await self._open_driver(driver)
        proc.drivers_used.add(driver.name)
        context = CallContext(pid=pid, workdir=self.workdir(pid))
        self._enter(proc, ProcessState.WAITING_TOOL)
        try:
            return await asyncio.wait_for(
                driver.preview(operation.name, args, context), timeout=operation.timeout_s + 5.0
            )
        except TimeoutError as e:
            raise ToolTimeout(f"dry run of {driver.name}.{operation.name} ran past its timeout") from e
        except AiosError:
            raise
        except Exception as e:
            name = f"{driver.name}.{operation.name}"
            raise ToolError(f"dry run of {name} failed: {type(e).__name__}: {e}") from e
        finally:
            self._leave(proc)

    async def _decision(self, approval_id: int, waiter: asyncio.Future[ApprovalRecord]) -> ApprovalRecord:
        """A decision made in this process (`decide`) or by `aios approve` in another (seen in the store)."""
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=APPROVAL_POLL_S)
            if done:
                return waiter.result()
            record = await asyncio.to_thread(self.store.get_approval, approval_id)
            if record is not None and record.state != "pending":
                return record

    async def _settle_approval(self, approval_id: int, state: str, by: str, reason: str) -> ApprovalRecord:
        try:
            return await asyncio.to_thread(
                self.store.decide_approval, approval_id, state, by=by, reason=reason
            )
        except UnknownApproval:  # decided at the last moment: that decision stands
            record = await asyncio.to_thread(self.store.get_approval, approval_id)
            assert record is not None
            return record

    async def decide(self, approval_id: int, approve: bool, *, by: str, reason: str = "") -> ApprovalRecord:
        """Approve or deny a pending request (the prompt of `aios run`; `aios approve` writes the store)."""
        record = await asyncio.to_thread(
            self.store.decide_approval, approval_id, "approved" if approve else "denied", by=by, reason=reason
        )
        waiter = self._approval_waiters.get(approval_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(record)
        return record

    def _resolve_tool(
        self, request: ToolSyscall, *, pid: int, syscall_id: str
    ) -> tuple[Driver, Operation, BaseModel]:
        driver_name, op_name = request.name.split(".", 1)
        driver = self.drivers.get(driver_name)
        if driver is None:
            raise InvalidSyscall(
                f"no driver {driver_name!r}; installed: {sorted(self.drivers)}",
                pid=pid,
                syscall_id=syscall_id,
            )
        operation = driver.operations().get(op_name)
        if operation is None:
            raise InvalidSyscall(
                f"driver {driver_name!r} has no operation {op_name!r}; it has {sorted(driver.operations())}",
                pid=pid,
                syscall_id=syscall_id,
            )
        try:
            args = operation.args_model.model_validate(request.arguments)
        except ValidationError as e:
            raise InvalidSyscall(
                f"bad arguments for {request.name}: {describe_validation(e)}", pid=pid, syscall_id=syscall_id
            ) from e
        return driver, operation, args

    def _driver_slot(self, driver: Driver) -> asyncio.Semaphore:
        slot = self._driver_slots.get(driver.name)
        if slot is None:
            slot = asyncio.Semaphore(1 if driver.exclusive else driver.max_concurrency)
            self._driver_slots[driver.name] = slot
        return slot

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the kernel's own services (the memory manager's indexing and paging)."""
        if self.memory is not None:
            await self.memory.start(self)

    async def shutdown(self, *, close_engines: bool = True) -> None:
        """Kill what still runs, close memory, drivers (and engines unless shared), and close the store."""
        self._closed = True
        for pid, proc in list(self._procs.items()):
            if not proc.record.state.is_terminal:
                await self.kill(pid)
        if self.memory is not None:
            await self.memory.close()
        for name in self._opened_drivers:
            try:
                await self.drivers[name].close()
            except Exception:
                logger.exception("closing driver %s failed", name)
        if close_engines:
            await self.engines.close()
        await asyncio.to_thread(self.store.close)
