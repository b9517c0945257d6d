"""What the kernel needs from a memory manager, and the memory types that cross the syscall boundary."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from aios.kernel.syscalls import LLMResult, LLMSyscall, MemoryResult, MemorySyscall

if TYPE_CHECKING:
    from aios.kernel.contracts import MemoryServices

Tier = Literal["short", "mid", "long", "archive"]
"""short: recent dialogue pages in context; mid: paged-out pages and their topic segments;
long: facts, profile and knowledge; archive: evicted cold segments (kept, found by keyword search only)."""

Kind = Literal["page", "segment", "fact", "profile", "knowledge", "note"]
State = Literal["active", "superseded", "forgotten"]

MEMORY_OWN = "memory.own"
"""Capability to read and write the process's own memory (its user and agent)."""


def memory_read_capability(agent: str) -> str:
    """Capability to read another agent's memory of the same user."""
    return f"memory.read.{agent}"


class MemoryItem(BaseModel):
    """One stored memory: a dialogue page, a topic segment, or a long-term fact."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user: str
    agent: str
    session: str | None = None
    tier: Tier
    kind: Kind
    text: str
    key: str | None = None
    """Facts with the same key (per user and agent) supersede each other; history is kept."""
    tags: list[str] = []
    pinned: bool = False
    state: State = "active"
    supersedes: int | None = None
    superseded_by: int | None = None
    segment_id: int | None = None
    """Pages: the topic segment they were paged into."""
    visits: int = 0
    heat: float = 0.0
    tokens: int = 0
    source: str = "agent"
    """agent, dialogue, pager, promotion, import."""
    created_at: float
    updated_at: float
    accessed_at: float


class MemoryHit(BaseModel):
    """One recall result: the item and how it ranked."""

    item: MemoryItem
    score: float
    """Reciprocal-rank fusion of the vector and keyword ranks (higher is better)."""
    vector_rank: int | None = None
    keyword_rank: int | None = None
    similarity: float | None = None
    """Cosine similarity of the item's embedding to the query's (None: found by keywords only)."""


class MemoryScope(BaseModel):
    """Whose memory a syscall touches, and what the caller may do."""

    model_config = ConfigDict(frozen=True)

    pid: int
    user: str
    agent: str
    session: str
    capabilities: tuple[str, ...] = ()


class MemoryPort(ABC):
    """The kernel serves memory syscalls and `llm(memory=True)` through this."""

    @abstractmethod
    async def start(self, services: MemoryServices) -> None:
        """Begin background work (indexing, paging); the kernel is ready to take syscalls."""

    @abstractmethod
    async def call(self, scope: MemoryScope, request: MemorySyscall) -> MemoryResult:
        """Serve one memory syscall; raises InvalidSyscall or PermissionDenied with a clear message."""

    @abstractmethod
    async def assemble(self, scope: MemoryScope, request: LLMSyscall, context_tokens: int) -> LLMSyscall:
        """The request with memory paged in: facts, retrieved pages and recent dialogue, within budget."""

    @abstractmethod
    async def observe(self, scope: MemoryScope, request: LLMSyscall, result: LLMResult) -> None:
        """Record the exchange as a short-term page (paging out the oldest when over budget)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop background work; every acknowledged write is already durable."""
