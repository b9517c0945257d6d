"""The arguments of each memory syscall, validated at the kernel boundary."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.kernel.memory_port import Kind, Tier


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RememberArgs(_Args):
    text: str = Field(min_length=1, max_length=20000)
    kind: Literal["fact", "profile", "knowledge", "note"] = "fact"
    tags: list[str] = Field(default_factory=list, max_length=32)
    key: str | None = Field(default=None, min_length=1, max_length=300)
    """A fact with the same key replaces the current one (which is kept as superseded history)."""
    supersedes: int | None = None
    pinned: bool = False
    session: str | None = Field(default=None, max_length=200)


class RecallArgs(_Args):
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=5, ge=1, le=50)
    tiers: list[Tier] | None = None
    kinds: list[Kind] | None = None
    agents: list[str] = Field(default_factory=list, max_length=16)
    """Other agents of the same user whose memory to search too (needs `memory.read.<agent>`)."""


class ItemArgs(_Args):
    id: int


class ForgetArgs(ItemArgs):
    purge: bool = False
    """Also erase the text (the row stays as a tombstone so history links still resolve)."""


class DialogueMessage(_Args):
    role: Literal["user", "assistant", "tool"]
    content: str = Field(max_length=20000)


class ObserveArgs(_Args):
    messages: list[DialogueMessage] = Field(min_length=1, max_length=64)
    """One exchange (a page): usually a user turn and the answer to it."""
