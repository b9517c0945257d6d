"""What agent authors import: `from aios.sdk import Agent, Context`; and `connect` for a running daemon."""

from typing import TYPE_CHECKING

from aios.kernel.errors import (
    AgentFailed,
    AiosError,
    ApprovalDenied,
    ContextOverflow,
    EngineError,
    HostBlocked,
    InvalidSyscall,
    KernelShutDown,
    LimitExceeded,
    MemoryFailure,
    ModelCannotSee,
    PermissionDenied,
    ProcessKilled,
    ReplayDiverged,
    RuntimeFailure,
    ToolError,
    ToolTimeout,
    UnknownAgent,
    UnknownApproval,
    UnknownProcess,
    UserError,
)
from aios.kernel.memory_port import MemoryHit, MemoryItem
from aios.kernel.syscalls import ImagePart, LLMResult, Message, TextPart, ToolCall, ToolSpec, Usage
from aios.sdk._agent import Agent
from aios.sdk._context import Context
from aios.sdk._manifest import Manifest
from aios.sdk._memory import Memory
from aios.sdk._messages import image, user
from aios.sdk._transport import Transport

if TYPE_CHECKING:  # loaded on first use at run time, below
    from aios.sdk.client import AsyncClient, Client, Run, StreamEvent, connect, connect_async

_REMOTE = ("AsyncClient", "Client", "Run", "StreamEvent", "connect", "connect_async")


def __getattr__(name: str) -> object:
    """The remote client loads on first use: an agent running in-process never needs httpx."""
    if name in _REMOTE:
        from aios.sdk import client

        return getattr(client, name)
    raise AttributeError(f"module 'aios.sdk' has no attribute {name!r}")


__all__ = [
    "Agent",
    "AgentFailed",
    "AiosError",
    "ApprovalDenied",
    "AsyncClient",
    "Client",
    "Context",
    "ContextOverflow",
    "EngineError",
    "HostBlocked",
    "ImagePart",
    "InvalidSyscall",
    "KernelShutDown",
    "LLMResult",
    "LimitExceeded",
    "Manifest",
    "Memory",
    "MemoryFailure",
    "MemoryHit",
    "MemoryItem",
    "Message",
    "ModelCannotSee",
    "PermissionDenied",
    "ProcessKilled",
    "ReplayDiverged",
    "Run",
    "RuntimeFailure",
    "StreamEvent",
    "TextPart",
    "ToolCall",
    "ToolError",
    "ToolSpec",
    "ToolTimeout",
    "Transport",
    "UnknownAgent",
    "UnknownApproval",
    "UnknownProcess",
    "Usage",
    "UserError",
    "connect",
    "connect_async",
    "image",
    "user",
]
