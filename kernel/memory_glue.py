"""Memory syscalls and `llm(memory=True)`, served through the memory manager's port when one is installed."""

from __future__ import annotations

import logging
import time

from aios.kernel.auditor import SyscallAudit
from aios.kernel.errors import AiosError, InvalidSyscall, MemoryFailure
from aios.kernel.memory_port import MemoryPort, MemoryScope
from aios.kernel.process_table import LiveProcess
from aios.kernel.syscalls import LLMResult, LLMSyscall, MemoryResult, MemorySyscall

logger = logging.getLogger(__name__)


class MemoryGlue:
    def __init__(self, port: MemoryPort | None) -> None:
        self.port = port

    def _port(self, pid: int) -> MemoryPort:
        if self.port is None:
            raise InvalidSyscall("memory is off in this kernel (no memory manager installed)", pid=pid)
        return self.port

    @staticmethod
    def scope(proc: LiveProcess) -> MemoryScope:
        record = proc.record
        return MemoryScope(
            pid=record.pid,
            user=record.owner,
            agent=record.agent,
            session=proc.session,
            capabilities=tuple(record.capabilities),
        )

    async def call(self, proc: LiveProcess, request: MemorySyscall, audit: SyscallAudit) -> MemoryResult:
        started = time.monotonic()
        try:
            result = await self._port(proc.pid).call(self.scope(proc), request)
        except AiosError:
            raise
        except Exception as e:
            logger.exception("memory.%s failed", request.op)
            raise MemoryFailure(f"memory.{request.op} failed: {type(e).__name__}: {e}") from e
        audit.finish("ok", service_us=int((time.monotonic() - started) * 1e6), detail=result.detail)
        return result

    async def page_in(self, proc: LiveProcess, request: LLMSyscall, context_tokens: int) -> LLMSyscall:
        """The memory manager assembles the prompt to fit the engine's context."""
        return await self._port(proc.pid).assemble(self.scope(proc), request, context_tokens)

    async def record(self, proc: LiveProcess, request: LLMSyscall, result: LLMResult) -> str | None:
        """The exchange becomes a short-term page; the answer stands even if recording it fails."""
        try:
            await self._port(proc.pid).observe(self.scope(proc), request, result)
        except Exception as e:
            logger.exception("pid %d: recording the dialogue page failed", proc.pid)
            return f"{type(e).__name__}: {e}"
        return None
