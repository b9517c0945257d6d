"""The kernel's contracts: syscalls, records, the engine and driver interfaces (the kernel itself is in
`aios.kernel.kernel`, kept out of this import so that `aios.sdk` stays light)."""

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.engines.interface import Engine, EngineInfo
from aios.kernel.events import KernelEvent
from aios.kernel.memory_port import MemoryHit, MemoryItem, MemoryPort, MemoryScope
from aios.kernel.records import AuditRow, ProcessRecord, ProcessState
from aios.kernel.syscalls import (
    LLMResult,
    LLMSyscall,
    MemoryResult,
    MemorySyscall,
    Message,
    NoopSyscall,
    Sampling,
    ToolCall,
    ToolResult,
    ToolSpec,
    ToolSyscall,
    Usage,
)

__all__ = [
    "AuditRow",
    "CallContext",
    "Driver",
    "DriverHealth",
    "Engine",
    "EngineInfo",
    "KernelEvent",
    "LLMResult",
    "LLMSyscall",
    "MemoryHit",
    "MemoryItem",
    "MemoryPort",
    "MemoryResult",
    "MemoryScope",
    "MemorySyscall",
    "Message",
    "NoopSyscall",
    "Operation",
    "ProcessRecord",
    "ProcessState",
    "RiskLevel",
    "Sampling",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "ToolSyscall",
    "Usage",
]
