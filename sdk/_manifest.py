from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Manifest(BaseModel):
    """What an agent is and what it may do; capabilities can be narrowed at spawn, never widened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = "0.1.0"
    description: str = ""
    capabilities: tuple[str, ...] = ("llm",)
    """Capability patterns, e.g. `llm`, `shell.exec`, `shell.*`."""
