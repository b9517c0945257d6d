"""The device-driver contract: what a tool driver declares and how the kernel calls it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel


class RiskLevel(StrEnum):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One operation a driver offers, described for the kernel and for the model."""

    name: str
    description: str
    args_model: type[BaseModel]
    risk: RiskLevel
    timeout_s: float
    capability: str
    """Capability a process needs, e.g. `shell.exec`."""
    ask_first: bool = False
    """Ask a human even where the risk alone would not (applying a playbook); policy rules still win."""

    def json_schema(self) -> dict[str, Any]:
        """Arguments schema as the model sees it (no titles, to keep prompts short)."""
        return _strip_titles(self.args_model.model_json_schema())


@dataclass(frozen=True, kw_only=True)
class CallContext:
    """Who is calling, and where its private files live."""

    pid: int
    workdir: Path


class DriverHealth(BaseModel):
    ok: bool
    detail: str


class Driver(ABC):
    """A device: the kernel opens it at boot, calls `call` for each tool syscall, closes it at shutdown.

    `exclusive` drivers serve one call at a time (a screen); others up to `max_concurrency` at once.
    """

    name: str
    exclusive: bool = False
    max_concurrency: int = 4
    open_at_boot: bool = False
    """Opened when the kernel starts, not on first use: its operations are learnt from the device (an MCP
    server's tools), and models are offered them before any call."""

    @abstractmethod
    def operations(self) -> dict[str, Operation]:
        """Operations by name."""

    @abstractmethod
    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> Any:
        """Run one operation and return a JSON-serialisable result."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire what the driver needs (called once, lazily, before the first call)."""

    async def preview(self, operation: str, args: BaseModel, ctx: CallContext) -> Any | None:
        """What the call would change (a dry run or a diff), shown to the human asked to approve it."""
        return None

    async def release(self, pid: int) -> None:  # noqa: B027 - optional hook
        """Drop what the driver holds for a process that has ended (a browser context, a screen lock)."""

    async def health(self) -> DriverHealth:
        return DriverHealth(ok=True, detail="no checks")

    def unconfined(self) -> frozenset[str]:
        """Operations that act with the daemon's own OS rights or credentials, or on what every user shares,
        instead of in a sandbox of their own (`*`: all of them). A user an admin granted nothing more is not
        given them (`access.user_defaults`). A driver says which of its operations are confined; until it
        does, none is."""
        return frozenset({"*"})

    def unavailable(self) -> str | None:
        """Why the device offers no operations now (a server that did not start), for the caller's error."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what `open` acquired."""


def _strip_titles(schema: Any) -> Any:
    # a title is a string; a property named `title` (an MCP tool's, say) is a schema and stays
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema
