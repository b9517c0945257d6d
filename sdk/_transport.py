from __future__ import annotations

from abc import ABC, abstractmethod

from aios.kernel.syscalls import LLMSyscall, MemorySyscall, NoopSyscall, SyscallResult, ToolSpec, ToolSyscall


class Transport(ABC):
    """How a Context reaches its kernel: in-process now, HTTP once the daemon exists.

    The Context calls `syscall` for every request and `tool_specs` when the agent asks for its tools.
    """

    pid: int

    @abstractmethod
    async def syscall(self, request: LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall) -> SyscallResult:
        """Send one syscall and wait for its result; kernel errors are raised as `aios.sdk` errors."""

    @abstractmethod
    async def tool_specs(self) -> list[ToolSpec]:
        """The tools this process may call."""

    @abstractmethod
    async def capabilities(self) -> list[str]:
        """The capabilities this process was granted (patterns such as `shell.*`)."""
