"""What agent authors import: `from aios.sdk import Agent, Context`."""

from aios.kernel.errors import (
    AiosError,
    ApprovalDenied,
    ContextOverflow,
    EngineError,
    HostBlocked,
    InvalidSyscall,
    LimitExceeded,
    MemoryFailure,
    PermissionDenied,
    ProcessKilled,
    RuntimeFailure,
    ToolError,
    ToolTimeout,
    UserError,
)
from aios.kernel.memory_port import MemoryHit, MemoryItem
from aios.kernel.syscalls import LLMResult, Message, ToolCall, ToolSpec, Usage
from aios.sdk._agent import Agent
from aios.sdk._context import Context
from aios.sdk._manifest import Manifest
from aios.sdk._memory import Memory
from aios.sdk._transport import Transport

__all__ = [
    "Agent",
    "AiosError",
    "ApprovalDenied",
    "Context",
    "ContextOverflow",
    "EngineError",
    "HostBlocked",
    "InvalidSyscall",
    "LLMResult",
    "LimitExceeded",
    "Manifest",
    "Memory",
    "MemoryFailure",
    "MemoryHit",
    "MemoryItem",
    "Message",
    "PermissionDenied",
    "ProcessKilled",
    "RuntimeFailure",
    "ToolCall",
    "ToolError",
    "ToolSpec",
    "ToolTimeout",
    "Transport",
    "Usage",
    "UserError",
]
