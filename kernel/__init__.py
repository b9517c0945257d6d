"""The kernel's contracts: syscalls, records, events, errors and the interfaces other parts implement or
call (the concrete kernel is in `aios.kernel.kernel`, built only by `aios.boot`). Names load on first use
(PEP 562), so importing one leaf module, as `aios.sdk`, agent processes and the CLI do, loads only it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS = {
    "AuditRow": "aios.kernel.records",
    "Calibration": "aios.kernel.kv_types",
    "CallContext": "aios.kernel.drivers",
    "Driver": "aios.kernel.drivers",
    "DriverHealth": "aios.kernel.drivers",
    "Engine": "aios.kernel.engines.interface",
    "EngineCapacity": "aios.kernel.engines.interface",
    "EngineInfo": "aios.kernel.engines.interface",
    "KVDecision": "aios.kernel.kv_types",
    "KVEntry": "aios.kernel.kv_types",
    "KVState": "aios.kernel.kv_types",
    "KernelAPI": "aios.kernel.contracts",
    "KernelEvent": "aios.kernel.events",
    "LLMResult": "aios.kernel.syscalls",
    "LLMSyscall": "aios.kernel.syscalls",
    "MemoryHit": "aios.kernel.memory_port",
    "MemoryItem": "aios.kernel.memory_port",
    "MemoryPort": "aios.kernel.memory_port",
    "MemoryResult": "aios.kernel.syscalls",
    "MemoryScope": "aios.kernel.memory_port",
    "MemoryServices": "aios.kernel.contracts",
    "MemorySyscall": "aios.kernel.syscalls",
    "Message": "aios.kernel.syscalls",
    "NoopSyscall": "aios.kernel.syscalls",
    "Operation": "aios.kernel.drivers",
    "PreparedCall": "aios.kernel.engines.interface",
    "ProcessRecord": "aios.kernel.records",
    "ProcessState": "aios.kernel.records",
    "Program": "aios.kernel.contracts",
    "RiskLevel": "aios.kernel.drivers",
    "Sampling": "aios.kernel.syscalls",
    "ToolCall": "aios.kernel.syscalls",
    "ToolResult": "aios.kernel.syscalls",
    "ToolSpec": "aios.kernel.syscalls",
    "ToolSyscall": "aios.kernel.syscalls",
    "Usage": "aios.kernel.syscalls",
    "Yielded": "aios.kernel.engines.interface",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
