"""The bubblewrap command line of a stdio MCP server: the system and this Python read-only, homes and the
data dir hidden, only the folders and network config grants, only the environment config names."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS, StdioServerParameters

from aios.tools.mcp_config import McpServerConfig
from aios.tools.sandbox import (
    LAUNCH_PATH,
    confined_filesystem,
    interpreter_paths,
    launch_environment,
    nobody_without_network,
)

SERVER_HOME = "/tmp"
"""HOME inside the sandbox: private and empty, gone when the server stops."""
EXIT_LINE = "aios: the MCP server exited with status "
_EXIT_RE = re.compile(re.escape(EXIT_LINE) + r"(\d+)")
_REPORT_EXIT = f'"$@"; status=$?; echo "{EXIT_LINE}$status" >&2; exit $status'
"""Run inside the sandbox around the server, so its exit status reaches the stderr log the kernel reads
(the MCP client keeps the process to itself)."""


def sandboxed_server(
    config: McpServerConfig, bwrap: str, *, private: Sequence[Path] = ()
) -> StdioServerParameters:
    """How the MCP client starts `config`'s server inside bubblewrap; `private` folders (the data dir) stay
    hidden even where they lie inside a folder that is shown."""
    assert config.command is not None, f"server {config.name} is not a stdio server"
    shown = interpreter_paths() + list(config.read_only)
    args = confined_filesystem()
    for path in dict.fromkeys(shown):
        args += ["--ro-bind", str(path), str(path)]
    if config.folder is not None:
        args += ["--bind", str(config.folder), str(config.folder)]
        shown.append(config.folder)
    for path in private:
        if any(path.is_relative_to(p) for p in shown) and not any(p.is_relative_to(path) for p in shown):
            args += ["--tmpfs", str(path)]
    args += ["--chdir", str(config.folder or SERVER_HOME), *nobody_without_network(bwrap)]
    if config.network_hosts:
        args.append("--share-net")  # bubblewrap cannot filter by host: the grant is the whole network
    environment = {"PATH": LAUNCH_PATH, "HOME": SERVER_HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    environment.update(config.env)
    args.append("--clearenv")
    for name, value in environment.items():
        args += ["--setenv", name, value]
    args += ["--", "/bin/sh", "-c", _REPORT_EXIT, "mcp-server", config.command, *config.args]
    return StdioServerParameters(command=bwrap, args=args, env=_launcher_environment())


def _launcher_environment() -> dict[str, str]:
    """bubblewrap's own environment, readable inside the sandbox at /proc/1/environ: the MCP client adds
    HOME, USER and PATH from the kernel's, so they are blanked here."""
    return {**{name: "" for name in DEFAULT_INHERITED_ENV_VARS}, **launch_environment()}


def stderr_tail(fd: int, max_bytes: int = 2000) -> tuple[int | None, str]:
    """(the server's exit status if it exited, the end of what it wrote to stderr) from its log file."""
    size = os.fstat(fd).st_size
    start = max(0, size - max_bytes)
    text = os.pread(fd, size - start, start).decode(errors="replace")
    statuses = _EXIT_RE.findall(text)
    lines = [line for line in text.splitlines() if not line.startswith(EXIT_LINE)]
    if start:
        lines = lines[1:]  # the first line is cut
    return (int(statuses[-1]) if statuses else None), "\n".join(lines).strip()
