"""The bubblewrap command line of a stdio MCP server: the system and this Python read-only, homes and the
data dir hidden, only the folders and network config grants, only the environment config names."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS, StdioServerParameters

from aios.kernel.errors import SandboxUnavailable
from aios.tools.acl import AclUnsupported, grant_tree
from aios.tools.cgroups import Cgroup
from aios.tools.mcp_config import McpServerConfig
from aios.tools.sandbox import LAUNCH_PATH, MountPlan, interpreter_paths, launch_environment, process_limit
from aios.tools.sandbox_user import SandboxUser, become, for_service, namespaces

SERVER_HOME = "/tmp"
"""HOME inside the sandbox: private and empty, gone when the server stops."""
EXIT_LINE = "aios: the MCP server exited with status "
_EXIT_RE = re.compile(re.escape(EXIT_LINE) + r"(\d+)")
_REPORT_EXIT = f'"$@"; status=$?; echo "{EXIT_LINE}$status" >&2; exit $status'
"""Run inside the sandbox around the server, so its exit status reaches the stderr log the kernel reads
(the MCP client keeps the process to itself)."""


def server_user(config: McpServerConfig) -> SandboxUser:
    """Who the server is on the host: a uid of its own, the same at each start (its folder's ACL names it)."""
    return for_service(f"mcp.{config.name}")


def sandboxed_server(
    config: McpServerConfig, bwrap: str, *, private: Sequence[Path] = (), cgroup: Cgroup | None = None
) -> StdioServerParameters:
    """How the MCP client starts `config`'s server inside bubblewrap (inside `cgroup`, if any); `private`
    folders (the data dir) stay hidden even where they lie inside a folder that is shown."""
    assert config.command is not None, f"server {config.name} is not a stdio server"
    user = server_user(config)
    shown = interpreter_paths() + list(config.read_only)
    plan = MountPlan(user).system()
    for path in dict.fromkeys(shown):
        plan.bind(path)
    if config.folder is not None:
        plan.bind(config.folder, writable=True)
        shown.append(config.folder)
    for path in private:
        if any(path.is_relative_to(p) for p in shown) and not any(p.is_relative_to(path) for p in shown):
            plan.option("--tmpfs", str(path))
    # bubblewrap cannot filter by host: a server granted any host gets the whole network
    plan.option(
        "--chdir",
        str(config.folder or SERVER_HOME),
        *namespaces(bwrap, user, network=bool(config.network_hosts)),
    )
    environment = {"PATH": LAUNCH_PATH, "HOME": SERVER_HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    environment.update(config.env)
    plan.option("--clearenv")
    for name, value in environment.items():
        plan.option("--setenv", name, value)
    launcher = [*(cgroup.join() if cgroup else ()), *process_limit(config.max_processes, user), bwrap]
    inside = [*become(bwrap, user), "/bin/sh", "-c", _REPORT_EXIT, "mcp-server", config.command, *config.args]
    return StdioServerParameters(
        command=launcher[0], args=[*launcher[1:], *plan.args, "--", *inside], env=_launcher_environment()
    )


def grant_folder(config: McpServerConfig, *, private: Sequence[Path] = ()) -> None:
    """Let the server's uid read and write its folder (an ACL entry; owner and modes stay as they are)."""
    user = server_user(config)
    if config.folder is None or not user.switched:
        return
    try:
        grant_tree(config.folder, user.uid, skip=private)
    except AclUnsupported as e:
        raise SandboxUnavailable(
            f"the server runs as uid {user.uid}, and {e.strerror}: make {config.folder} writable for "
            f"that uid, or move it"
        ) from e


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
