"""The memory tables (SQLAlchemy 2): SQL is the source of truth; the vector index is rebuilt from it."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class MemoryBase(DeclarativeBase):
    pass


class MemoryRow(MemoryBase):
    __tablename__ = "memory_items"
    __table_args__ = (
        Index("ix_memory_scope_tier", "user", "agent", "tier", "state"),
        Index("ix_memory_session", "user", "agent", "session", "tier"),
        Index("ix_memory_key", "user", "agent", "key"),
        Index("ix_memory_pending", "pending"),
        Index("ix_memory_unindexed", "indexed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(200))
    agent: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(40))
    """Token naming the (user, agent) pair; keyword search filters on it."""
    session: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tier: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="active")
    supersedes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    superseded_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    segment_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    heat: Mapped[float] = mapped_column(Float, default=0.0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(32), default="agent")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Pages: the messages; segments: keywords, centroid embedding, whether the summary fell back."""
    pending: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """Work the pager still owes this row: `segment` (a paged-out page) or `summary` (a segment)."""
    indexed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """When the vector index last took this row's current text and state (None: not yet)."""
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    accessed_at: Mapped[float] = mapped_column(Float)


def scope_token(user: str, agent: str) -> str:
    """A short, index-friendly name for one user's memory of one agent."""
    return "s" + hashlib.sha1(f"{user}\0{agent}".encode()).hexdigest()[:20]
