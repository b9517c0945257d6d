"""`aios mcp ...`: MCP servers the kernel uses as drivers, and the kernel's own tools served over MCP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from aios.cli_common import _settings, console

mcp_app = typer.Typer(
    help="MCP: servers used as drivers (list), the kernel's tools as a server (serve).", no_args_is_help=True
)


@mcp_app.command("serve")
def serve(
    agent: Annotated[
        str, typer.Option(help="Installed agent whose capabilities decide which tools are served.")
    ],
) -> None:
    """Serve the kernel's tools over MCP on stdin/stdout (through the daemon when one runs)."""
    from aios.cli_daemon import daemon_client
    from aios.mcp_stdio import serve_local, serve_relay

    settings = _settings()
    client = daemon_client(settings)
    if client is not None:
        client.close()
        token = settings.cli_token_path.read_text().strip()
        asyncio.run(serve_relay(settings.socket_path, token, agent))
    else:
        asyncio.run(serve_local(settings, agent, cwd=Path.cwd()))


@mcp_app.command("list")
def list_servers() -> None:
    """Configured MCP servers: how each is reached, its health, and the tools the kernel offers from it.

    Each server is started (stdio, in its sandbox) or connected to (HTTP) for the listing, then stopped.
    Exits 1 if a server is unhealthy.
    """
    from rich.markup import escape
    from rich.table import Table

    from aios.tools.mcp_inventory import inspect_servers

    settings = _settings()
    if not settings.mcp.servers:
        console.print(escape("no MCP servers configured: add [[mcp.servers]] tables to the config file"))
        return
    reports = asyncio.run(inspect_servers(settings.mcp, private=(settings.data_dir,)))
    servers = Table("server", "transport", "health", "detail")
    tools = Table("tool", "on the server", "risk", "capability")
    for report in reports:
        health = "[green]ok[/]" if report.ok else "[red]FAIL[/]"
        servers.add_row(report.driver, report.transport, health, escape(report.detail))
        for tool in report.tools:
            tools.add_row(tool.name, escape(tool.server_name), tool.risk.value, tool.capability)
        for name, why in sorted(report.refused.items()):
            tools.add_row(f"[dim]{report.driver}: not offered[/]", escape(name), "", escape(why))
    console.print(servers)
    console.print(tools)
    raise typer.Exit(0 if all(r.ok for r in reports) else 1)
