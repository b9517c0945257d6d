"""The `[mcp]` table: which MCP servers the kernel uses as drivers, and what each one is granted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aios.kernel.drivers import RiskLevel
from aios.tools.browser_network import parse_host_entry

SERVER_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
"""A server's name is the middle part of its tools' syscall names (`mcp.<name>.<tool>`)."""


class McpServerConfig(BaseModel):
    """One `[[mcp.servers]]` entry: a stdio server (`command`) or a streamable HTTP server (`url`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SERVER_NAME_PATTERN, max_length=32)
    """The driver is `mcp.<name>`; its tools are `mcp.<name>.<tool>` with capability of the same name."""
    command: str | None = None
    """Program that starts a stdio server, run inside the sandbox (e.g. `python3`, `npx`)."""
    args: list[str] = []
    """Arguments of `command`."""
    url: str | None = None
    """Endpoint of a streamable HTTP server (`https://example.com/mcp`); not sandboxed: it runs elsewhere."""
    headers: dict[str, str] = {}
    """HTTP headers sent with every request to `url` (an `Authorization` token)."""
    env: dict[str, str] = {}
    """The stdio server's whole environment besides PATH, HOME, TMPDIR and LANG: nothing else is passed on."""
    folder: Path | None = None
    """A folder the stdio server may read and write (shown at its own path; the server starts there)."""
    read_only: list[Path] = []
    """More folders the stdio server may read (where its code lives, when not in a system folder)."""
    network_hosts: list[str] = []
    """Hosts the stdio server needs. Empty: no network at all. bubblewrap cannot filter by host, so any
    entry gives the server the machine's whole network; the list records what it was granted for."""
    risk: dict[str, RiskLevel] = {}
    """Risk of a tool by its name on the server (or as the kernel calls it); wins over the server's hints."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Longest one tool call may take (once a crashed server has been restarted)."""
    connect_timeout_s: float = Field(default=20.0, gt=0)
    """Longest starting the server and listing its tools may take."""
    max_concurrency: int = Field(default=4, ge=1)
    """Calls in flight to this server at once."""
    memory_mb: int = Field(default=2048, ge=64)
    """Memory a stdio server may use (its cgroup's limit, where the machine gives aios cgroups)."""
    max_processes: int = Field(default=256, ge=8)
    """Processes and threads of a stdio server (its cgroup's pids.max; RLIMIT_NPROC of its uid where aios
    runs as root)."""
    max_output_chars: int = Field(default=64_000, ge=1000)
    """A result's text is cut here (and structured content dropped past it): a server may answer anything."""
    bwrap: str = "bwrap"

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url

    @field_validator("network_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            parse_host_entry(host)
        return hosts

    @field_validator("folder")
    @classmethod
    def _absolute_folder(cls, folder: Path | None) -> Path | None:
        return None if folder is None else _absolute(folder)

    @field_validator("read_only")
    @classmethod
    def _absolute_paths(cls, paths: list[Path]) -> list[Path]:
        return [_absolute(p) for p in paths]

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"server {self.name!r} needs exactly one of `command` (stdio) or `url` (HTTP)")
        if self.url is not None:
            stdio_only = [
                key
                for key in ("args", "env", "folder", "read_only", "network_hosts")
                if key in self.model_fields_set
            ]
            if stdio_only:
                raise ValueError(f"server {self.name!r} has a `url`: {stdio_only} are for stdio servers")
        elif self.headers:
            raise ValueError(f"server {self.name!r} runs `command`: `headers` apply to `url` servers only")
        return self


def _absolute(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_absolute():
        raise ValueError(f"{str(path)!r} must be an absolute path")
    return path


class McpConfig(BaseModel):
    """Settings of the MCP drivers (the `[mcp]` table)."""

    model_config = ConfigDict(extra="forbid")

    servers: list[McpServerConfig] = []

    @field_validator("servers")
    @classmethod
    def _unique(cls, servers: list[McpServerConfig]) -> list[McpServerConfig]:
        names = [s.name for s in servers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"server names must be unique; repeated: {twice}")
        return servers
