"""What the rest of the runtime may ask of a kernel: the transports, the memory manager, the evaluations
and the daemon depend on these protocols, never on the concrete `Kernel` (only `aios.boot` builds one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from aios.kernel.approvals import ApprovalRecord
from aios.kernel.drivers import Operation
from aios.kernel.engines.interface import EngineInfo
from aios.kernel.events import KernelEvent
from aios.kernel.kv_types import KVEntry
from aios.kernel.records import AuditRow, ProcessRecord
from aios.kernel.syscalls import LLMResult, LLMSyscall, SyscallResult, ToolSpec

Program = Callable[[int], Awaitable[Any]]
"""What a process runs: given its pid, a coroutine whose value is the process's result."""


class KernelAPI(Protocol):
    """Processes and their syscalls."""

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
        """Create a process that runs `program`; returns its pid at once (with `entry`, it is resumable)."""
        ...

    async def resume(
        self, pid: int, program: Program, *, capabilities: list[str] | None = None
    ) -> ProcessRecord:
        """Run an interrupted process's program again, answered from its journal until it goes past it;
        with `capabilities`, it holds those instead (its user's grant may have shrunk meanwhile)."""
        ...

    async def syscall(self, pid: int, request: BaseModel | dict[str, Any]) -> SyscallResult:
        """The one entry point of every syscall (a model, or a dict validated here)."""
        ...

    async def pause(self, pid: int, tool: str) -> dict[str, Any] | None:
        """The process went off to `tool` outside the kernel (an API client's own function): its KV cache
        is kept, pinned, swapped or dropped as for a driver call, and the pause is timed at its next LLM
        call. Returns the KV decision (None before the process's first LLM call)."""
        ...

    def process(self, pid: int) -> ProcessRecord:
        """A process's record, live or stored."""
        ...

    async def wait(self, pid: int) -> ProcessRecord:
        """Wait for a process to end (and release what it held) and return its final record."""
        ...

    async def kill(self, pid: int) -> ProcessRecord:
        """End a process: queued calls dropped, running ones cancelled, its slots freed."""
        ...

    def subscribe(self, listener: Callable[[KernelEvent], None]) -> Callable[[], None]:
        """Call `listener` for every event; returns a function that unsubscribes."""
        ...

    def tool_specs(self, pid: int) -> list[ToolSpec]:
        """The operations a process may call, described for its model."""
        ...

    def tool_operations(self, pid: int) -> dict[str, Operation]:
        """The operations a process may call by syscall name, with their risk (what MCP clients are told)."""
        ...

    def user_capabilities(self) -> list[str]:
        """What a user of the daemon may hold unless an admin grants more: the model, memory, and every
        operation that runs confined (none that acts with the daemon's own OS rights or credentials)."""
        ...

    def workdir(self, pid: int) -> Path:
        """The process's private, writable folder (created on first use)."""
        ...

    async def decide(self, approval_id: int, approve: bool, *, by: str, reason: str = "") -> ApprovalRecord:
        """Approve or deny an operation that waits for a human."""
        ...

    async def shutdown(self, *, close_engines: bool = True, interrupt: bool = False) -> None:
        """Stop what still runs (resumable processes end `interrupted` with `interrupt`) and close
        everything the kernel opened."""
        ...


class KernelRecords(Protocol):
    """What the daemon reads besides live processes: stored ones, audit rows, approvals, the model catalog
    and the KV cache (the methods block on the database: call them in a thread)."""

    def processes(
        self, *, limit: int, active_only: bool = False, owner: str | None = None, state: str | None = None
    ) -> list[ProcessRecord]:
        """Processes newest first; a live one's freshest record is the kernel's, not the stored one."""
        ...

    def audit(self, pid: int, *, limit: int) -> list[AuditRow]:
        """A process's audit rows, oldest first, including the writes still queued."""
        ...

    def approval(self, approval_id: int) -> ApprovalRecord | None: ...

    def approvals(self, *, pending_only: bool, limit: int) -> list[ApprovalRecord]:
        """Approvals newest first."""
        ...

    def models(self) -> list[EngineInfo]:
        """The configured models, the default first; nothing is loaded to answer."""
        ...

    def resolve_model(self, name: str | None) -> str:
        """The model a request's `model` field means (the default for None); unknown names are an error."""
        ...

    def kv(self) -> dict[str, list[KVEntry]]:
        """Per loaded engine, what its KV cache holds for each process."""
        ...


class MemoryServices(Protocol):
    """The little the memory manager needs from the kernel: a background process that makes LLM calls."""

    async def spawn_background(self, program: Program, *, agent: str, task: str) -> int:
        """A kernel-owned process whose LLM calls yield to every agent's (they age, so they do run)."""
        ...

    async def llm(self, pid: int, request: LLMSyscall) -> LLMResult:
        """An LLM syscall on behalf of that process."""
        ...

    def is_running(self, pid: int) -> bool:
        """Whether the process has not ended."""
        ...
