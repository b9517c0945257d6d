"""The kernel's contracts: syscalls, records, events, errors and the interfaces other parts implement or
call (the concrete kernel is in `aios.kernel.kernel`, built only by `aios.boot`; this import stays light
so that `aios.sdk` and the CLI load fast)."""

from aios.kernel.contracts import KernelAPI, MemoryServices, Program
from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.engines.interface import Engine, EngineCapacity, EngineInfo, PreparedCall, Yielded
from aios.kernel.events import KernelEvent
from aios.kernel.kv_types import Calibration, KVDecision, KVEntry, KVState
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
    "Calibration",
    "CallContext",
    "Driver",
    "DriverHealth",
    "Engine",
    "EngineCapacity",
    "EngineInfo",
    "KVDecision",
    "KVEntry",
    "KVState",
    "KernelAPI",
    "KernelEvent",
    "LLMResult",
    "LLMSyscall",
    "MemoryHit",
    "MemoryItem",
    "MemoryPort",
    "MemoryResult",
    "MemoryScope",
    "MemoryServices",
    "MemorySyscall",
    "Message",
    "NoopSyscall",
    "Operation",
    "PreparedCall",
    "ProcessRecord",
    "ProcessState",
    "Program",
    "RiskLevel",
    "Sampling",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "ToolSyscall",
    "Usage",
    "Yielded",
]
