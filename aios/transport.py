"""The in-process transport: an agent's Context talks to a kernel in the same event loop."""

from __future__ import annotations

from aios.kernel.contracts import KernelAPI
from aios.kernel.syscalls import LLMSyscall, MemorySyscall, NoopSyscall, SyscallResult, ToolSpec, ToolSyscall
from aios.sdk import Transport


class InProcessTransport(Transport):
    def __init__(self, kernel: KernelAPI, pid: int) -> None:
        self.kernel = kernel
        self.pid = pid

    async def syscall(self, request: LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall) -> SyscallResult:
        return await self.kernel.syscall(self.pid, request)

    async def tool_specs(self) -> list[ToolSpec]:
        return self.kernel.tool_specs(self.pid)

    async def capabilities(self) -> list[str]:
        return list(self.kernel.process(self.pid).capabilities)
