"""The `[daemon]` table: where `aios serve` listens."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class DaemonConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    socket: Path | None = None
    """Unix socket (0600) for local clients; default <data_dir>/aios.sock."""
    host: str = "127.0.0.1"
    port: int | None = Field(default=8765, ge=0, le=65535)
    """TCP port (0: any free one); None: the Unix socket only."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False
    """Allow plain HTTP on an address other than loopback (tokens then cross the network in clear)."""
    resume_interrupted: bool = False
    """At start, resume the processes the previous daemon left interrupted."""
    conversation_idle_s: float = Field(default=300.0, gt=0)
    """An OpenAI-endpoint conversation's process ends (its KV cache freed) after this long without a call."""
    attach_idle_s: float | None = Field(default=600.0, gt=0)
    """An attached agent's process fails after this long with no syscall and no exit report (its program is
    presumed gone); None: it waits for the report however long."""
    max_conversations_per_user: int = Field(default=64, ge=1)
    """Live OpenAI-endpoint conversations one user may hold; past it a new one is refused (429)."""

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def exposed(self) -> bool:
        return self.port is not None and self.host not in LOOPBACK
