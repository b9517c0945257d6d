"""The one entry point of every syscall: find the process, validate the request, audit it, route it."""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ValidationError

from aios.kernel.auditor import Auditor
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import AiosError, InvalidSyscall, describe_validation
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
    ) -> None:
        self.table = table
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
        if isinstance(request, MemorySyscall):
            with self.auditor.syscall(
                pid=pid, syscall_id=syscall_id, kind="memory", target=request.op
            ) as audit:
                return await self.memory.call(proc, request, audit)
        with self.auditor.syscall(pid=pid, syscall_id=syscall_id, kind="invalid", target=""):
            raise InvalidSyscall(f"unknown syscall type {type(request).__name__}")

    async def _llm(self, proc: LiveProcess, request: LLMSyscall, syscall_id: str) -> SyscallResult:
        model = request.model or proc.record.model
        try:
            target = self.engines.resolve(model)
        except AiosError:
            target = model or ""
        with self.auditor.syscall(pid=proc.pid, syscall_id=syscall_id, kind="llm", target=target) as audit:
            return await self.llm.call(proc, request, audit)
