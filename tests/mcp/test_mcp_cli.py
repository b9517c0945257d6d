"""`aios mcp list`, as a user runs it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..cli_helpers import aios
from .conftest import SERVER, needs_bwrap


@needs_bwrap
async def test_mcp_list_shows_servers_health_and_tools(
    tmp_path: Path, env: dict[str, str], config: Path, http_url: str
) -> None:
    config.write_text(
        f'[[mcp.servers]]\nname = "notes"\ncommand = "{sys.executable}"\nargs = ["{SERVER}", "stdio"]\n'
        f'read_only = ["{SERVER.parent}"]\nrisk = {{ "Get-Env" = "write" }}\n\n'
        f'[[mcp.servers]]\nname = "remote"\nurl = "{http_url}"\n'
    )
    listed = await asyncio.to_thread(aios, "--config", str(config), "mcp", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if line.count("│") > 3}
    assert "stdio" in rows["mcp.notes"] and "ok" in rows["mcp.notes"] and "11 tools" in rows["mcp.notes"]
    assert "http" in rows["mcp.remote"] and "ok" in rows["mcp.remote"]
    get_env = [cell.strip() for cell in rows["mcp.notes.get_env"].split("│")[1:-1]]
    assert get_env == ["mcp.notes.get_env", "Get-Env", "write", "mcp.notes.get_env"]
    assert "destructive" in rows["mcp.remote.delete_note"]

    config.write_text(config.read_text() + '\n[[mcp.servers]]\nname = "broken"\ncommand = "/bin/false"\n')
    failing = await asyncio.to_thread(aios, "--config", str(config), "mcp", "list", env=env, cwd=tmp_path)
    assert failing.returncode == 1 and "exited with status 1" in failing.stdout, failing.stdout
    assert "mcp.notes.add" in failing.stdout, "the other servers are still listed"


def test_mcp_list_refuses_a_broken_config(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    config.write_text('[[mcp.servers]]\nname = "both"\ncommand = "x"\nurl = "http://127.0.0.1:1/mcp"\n')
    done = aios("--config", str(config), "mcp", "list", env=env, cwd=tmp_path)
    assert done.returncode == 2 and "ConfigError" in done.stderr and "mcp.servers.0" in done.stderr
    assert "needs exactly one of `command` (stdio) or `url` (HTTP)" in " ".join(done.stderr.split())
