"""The tool path: the operation and its arguments, the capability, the approval (with the driver's dry run,
run inside the driver's concurrency slot), the KV decision for the pause, then the call itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aios.kernel.access import grants, require
from aios.kernel.approval_desk import ApprovalDesk
from aios.kernel.auditor import SyscallAudit
from aios.kernel.drivers import CallContext, Driver, Operation
from aios.kernel.errors import (
    AiosError,
    ApprovalDenied,
    InvalidSyscall,
    ToolError,
    ToolTimeout,
    describe_validation,
)
from aios.kernel.kv_lifecycle import KVLifecycle
from aios.kernel.process_table import LiveProcess, ProcessTable
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ToolResult, ToolSpec, ToolSyscall

TIMEOUT_GRACE_S = 5.0
"""Drivers enforce their own timeouts; the kernel cuts a call off this much later."""


class ToolGate:
    def __init__(
        self,
        table: ProcessTable,
        drivers: Mapping[str, Driver],
        desk: ApprovalDesk,
        kv: KVLifecycle,
        workdir_root: Path,
    ) -> None:
        self.table = table
        self.drivers = dict(drivers)
        self.desk = desk
        self.kv = kv
        self.workdir_root = workdir_root
        self._slots: dict[str, asyncio.Semaphore] = {}  # driver -> its concurrency slots
        self._opened: set[str] = set()

    def specs(self, capabilities: list[str]) -> list[ToolSpec]:
        """The operations these capabilities allow, described for a model."""
        return [
            ToolSpec(name=name, description=op.description, parameters=op.json_schema())
            for name, op in self.operations(capabilities).items()
        ]

    def operations(self, capabilities: list[str]) -> dict[str, Operation]:
        """The operations these capabilities allow, by syscall name (`driver.operation`)."""
        return {
            f"{driver.name}.{op.name}": op
            for driver in self.drivers.values()
            for op in driver.operations().values()
            if grants(capabilities, op.capability)
        }

    def workdir(self, pid: int) -> Path:
        """The process's private, writable folder (created on first use)."""
        path = self.workdir_root / str(pid)
        if not path.is_dir():
            # owner-only: what a sandboxed command leaves there is no one else's to open or run
            self.workdir_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.workdir_root.chmod(0o700)
            path.mkdir(mode=0o700, exist_ok=True)
        return path

    async def call(self, proc: LiveProcess, request: ToolSyscall, audit: SyscallAudit) -> ToolResult:
        driver, operation, args = self._resolve(request)
        require(proc.record.capabilities, operation.capability, pid=proc.pid, syscall_id=audit.syscall_id)
        approval = await self._approve(proc, request, driver, operation, args, audit.syscall_id)
        kv = await self.kv.pause(proc, request.name)
        detail = {"kv": kv, **approval}
        enqueued = started = time.monotonic()
        self.table.enter(proc, ProcessState.WAITING_TOOL)
        try:
            async with self._slot(driver):
                started = time.monotonic()
                output = await self._run(proc, driver, operation, args, preview=False)
        except AiosError as e:
            self._done(proc, audit, enqueued, started, detail, status="error", error=str(e))
            raise
        finally:
            self.table.leave(proc)
        self._done(proc, audit, enqueued, started, detail, status="ok", output=output)
        proc.tainted_by = proc.tainted_by or request.name
        return ToolResult(name=request.name, output=output)

    def _done(
        self,
        proc: LiveProcess,
        audit: SyscallAudit,
        enqueued: float,
        started: float,
        detail: dict[str, Any],
        *,
        status: str,
        error: str | None = None,
        output: Any = None,
    ) -> None:
        self.table.count(proc, tool_calls=1)
        audit.finish(
            status,
            error=error,
            queue_wait_us=int((started - enqueued) * 1e6),
            service_us=int((time.monotonic() - started) * 1e6),
            detail=detail,
            event={"output": output},
        )

    async def _approve(
        self,
        proc: LiveProcess,
        request: ToolSyscall,
        driver: Driver,
        operation: Operation,
        args: BaseModel,
        syscall_id: str,
    ) -> dict[str, Any]:
        """Apply the approval policy; `ask` shows a human the driver's dry run and waits for a decision."""
        decision, why = self.desk.policy.decide(
            request.name,
            request.arguments,
            operation.risk,
            ask_first=operation.ask_first,
            tainted_by=proc.tainted_by,
        )
        if decision == "allow":
            return {}
        if decision == "deny":
            raise ApprovalDenied(f"{request.name} is denied by policy: {why}")
        # nobody is asked to approve what cannot work: a failing dry run ends the call here
        self.table.enter(proc, ProcessState.WAITING_TOOL)
        try:
            async with self._slot(driver):
                preview = await self._run(proc, driver, operation, args, preview=True)
        finally:
            self.table.leave(proc)
        record = proc.record
        request_record = await self.desk.open(
            pid=proc.pid,
            syscall_id=syscall_id,
            tool=request.name,
            agent=record.agent,
            owner=record.owner,
            arguments=request.arguments,
            risk=operation.risk.value,
            why=why,
            preview=preview,
            requested_at=time.time(),
        )
        self.table.enter(proc, ProcessState.BLOCKED_APPROVAL)
        try:
            return await self.desk.outcome(request_record)
        finally:
            self.table.leave(proc)

    async def _run(
        self, proc: LiveProcess, driver: Driver, operation: Operation, args: BaseModel, *, preview: bool
    ) -> Any:
        """The driver's call (or its dry run), opened on first use and cut off past its timeout."""
        name = f"{driver.name}.{operation.name}"
        what = f"dry run of {name}" if preview else name
        await self.open(driver)
        proc.drivers_used.add(driver.name)
        context = CallContext(pid=proc.pid, workdir=self.workdir(proc.pid))
        call = driver.preview if preview else driver.call
        limit = operation.timeout_s + TIMEOUT_GRACE_S
        try:
            return await asyncio.wait_for(call(operation.name, args, context), timeout=limit)
        except TimeoutError as e:
            raise ToolTimeout(f"{what} ran past {limit:.0f}s") from e
        except AiosError:
            raise
        except Exception as e:
            raise ToolError(f"{what} failed: {type(e).__name__}: {e}") from e

    async def open(self, driver: Driver) -> None:
        """Open `driver` unless it is open; one that fails to open is tried again by the next call."""
        if driver.name not in self._opened:
            await driver.open()
            self._opened.add(driver.name)

    async def open_at_boot(self) -> list[str]:
        """Open together the drivers that must be open before the first call; returns those that failed."""
        eager = [d for d in self.drivers.values() if d.open_at_boot]
        results = await asyncio.gather(*(self.open(d) for d in eager), return_exceptions=True)
        return [d.name for d, r in zip(eager, results, strict=True) if isinstance(r, BaseException)]

    def _resolve(self, request: ToolSyscall) -> tuple[Driver, Operation, BaseModel]:
        driver_name, op_name = request.name.rsplit(".", 1)
        driver = self.drivers.get(driver_name)
        if driver is None:
            raise InvalidSyscall(f"no driver {driver_name!r}; installed: {sorted(self.drivers)}")
        operations = driver.operations()
        operation = operations.get(op_name)
        if operation is None:
            why = driver.unavailable()
            has = f"it is unavailable: {why}" if why else f"it has {sorted(operations)}"
            raise InvalidSyscall(f"driver {driver_name!r} has no operation {op_name!r}; {has}")
        try:
            args = operation.args_model.model_validate(request.arguments)
        except ValidationError as e:
            raise InvalidSyscall(f"bad arguments for {request.name}: {describe_validation(e)}") from e
        return driver, operation, args

    def _slot(self, driver: Driver) -> asyncio.Semaphore:
        slot = self._slots.get(driver.name)
        if slot is None:
            slot = asyncio.Semaphore(1 if driver.exclusive else driver.max_concurrency)
            self._slots[driver.name] = slot
        return slot

    async def release(self, proc: LiveProcess) -> list[str]:
        """Let each driver the process used drop what it holds for it; returns the drivers that failed."""
        failed = []
        for name in proc.drivers_used:
            try:
                await self.drivers[name].release(proc.pid)
            except Exception:
                failed.append(name)
        return failed

    async def close(self) -> list[str]:
        """Close the drivers that were opened; returns those that failed to close."""
        failed = []
        for name in self._opened:
            try:
                await self.drivers[name].close()
            except Exception:
                failed.append(name)
        return failed
