"""What the API's routes reach: the kernel, its store, the token books and the event log, held by the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from aios.isolation.channels import AgentChannels
from aios.kernel.contracts import KernelAPI

if TYPE_CHECKING:
    from aios.api.conversations import Conversations
    from aios.api.event_log import EventLog
    from aios.api.grants import UserGrants
    from aios.api.metrics import KernelMetrics
    from aios.api.tokens import UserTokens
    from aios.isolation.host import AgentHost
    from aios.kernel.engines.registry import EngineRegistry
    from aios.kernel.store import ProcessStore
    from aios.memory.manager import MemoryManager


@dataclass
class ApiState:
    kernel: KernelAPI
    channels: AgentChannels
    store: ProcessStore | None = None
    users: UserTokens | None = None
    """None: agent routes only (the private socket of a kernel that `aios run` booted)."""
    grants: UserGrants | None = None
    """What an admin granted each user: every process a user token starts is cut to it."""
    events: EventLog | None = None
    host: AgentHost | None = None
    memory: MemoryManager | None = None
    engines: EngineRegistry | None = None
    metrics: KernelMetrics | None = None
    conversations: Conversations | None = None
    """The OpenAI endpoint's conversations (the daemon's)."""
    secure_cookies: bool = False
    """Mark the dashboard's cookies Secure (the daemon serves TLS)."""


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.aios
    return state


async def api_state(request: Request) -> ApiState:
    """The dependency (a coroutine: FastAPI would run a plain function in its thread pool)."""
    return state_of(request)
