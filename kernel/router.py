"""The one entry point of every syscall: find the process, validate the request, audit it, route it."""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ValidationError

from aios.kernel.auditor import Auditor
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import AiosError, InvalidSyscall, ReplayDiverged, describe_validation
from aios.kernel.journal import Journal
from aios.kernel.llm_path import LLMPath
from aios.kernel.memory_glue import MemoryGlue
from aios.kernel.process_table import LiveProcess, ProcessTable
from aios.kernel.syscalls import (
    SYSCALL_ADAPTER,
    LLMSyscall,
    MemorySyscall,
    NoopResult,
    NoopSyscall,
    SyscallResult,
    ToolSyscall,
)
from aios.kernel.tool_gate import ToolGate

NOOP_RESULT = NoopResult()
"""Results are frozen models: the no-op answer is one shared value."""


class SyscallRouter:
    def __init__(
        self,
        table: ProcessTable,
        auditor: Auditor,
        engines: EngineRegistry,
        llm: LLMPath,
        tools: ToolGate,
        memory: MemoryGlue,
        journal: Journal,
    ) -> None:
        self.table = table
        self.journal = journal
        self.auditor = auditor
        self.engines = engines
        self.llm = llm
        self.tools = tools
        self.memory = memory
        self._seq = itertools.count()

    async def syscall(self, pid: int, request: BaseModel | dict[str, Any]) -> SyscallResult:
        proc = self.table.require_live(pid)
        if proc.record.state.is_terminal:
            raise InvalidSyscall(f"process {pid} has already ended ({proc.record.state.value})", pid=pid)
        syscall_id = f"{pid}.{next(self._seq)}"
        if isinstance(request, dict):
            try:
                request = SYSCALL_ADAPTER.validate_python(request)
            except ValidationError as e:
                with self.auditor.syscall(pid=pid, syscall_id=syscall_id, kind="invalid", target=""):
                    raise InvalidSyscall(f"malformed syscall: {describe_validation(e)}") from e
        if not isinstance(request, LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall):
            with self.auditor.syscall(pid=pid, syscall_id=syscall_id, kind="invalid", target=""):
                raise InvalidSyscall(f"unknown syscall type {type(request).__name__}")
        if not self.journal.keeps(proc, request):
            return await self._route(proc, request, syscall_id)
        if proc.failure is not None:
            raise ReplayDiverged(proc.failure, pid=pid, syscall_id=syscall_id)
        if proc.replay:
            try:
                return self.journal.replay(proc, request, syscall_id)
            except ReplayDiverged as e:
                proc.failure = e.message  # whatever the program does now, it ends failed with this
                raise
        try:
            result = await self._route(proc, request, syscall_id)
        except AiosError as e:
            await self.journal.record_error(proc, request, e)
            raise
        await self.journal.record(proc, request, result)
        return result

    async def _route(
        self,
        proc: LiveProcess,
        request: LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall,
        syscall_id: str,
    ) -> SyscallResult:
        pid = proc.pid
        if isinstance(request, NoopSyscall):
            with self.auditor.syscall(pid=pid, syscall_id=syscall_id, kind="noop", target=""):
                return NOOP_RESULT
        if isinstance(request, LLMSyscall):
            return await self._llm(proc, request, syscall_id)
        if isinstance(request, ToolSyscall):
            with self.auditor.syscall(
                pid=pid,
                syscall_id=syscall_id,
                kind="tool",
                target=request.name,
                detail={"arguments": request.arguments},
            ) as audit:
                return await self.tools.call(proc, request, audit)
        with self.auditor.syscall(pid=pid, syscall_id=syscall_id, kind="memory", target=request.op) as audit:
            return await self.memory.call(proc, request, audit)

    async def _llm(self, proc: LiveProcess, request: LLMSyscall, syscall_id: str) -> SyscallResult:
        model = request.model or proc.record.model
        try:
            target = self.engines.resolve(model)
        except AiosError:
            target = model or ""
        with self.auditor.syscall(pid=proc.pid, syscall_id=syscall_id, kind="llm", target=target) as audit:
            return await self.llm.call(proc, request, audit)
