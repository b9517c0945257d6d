"""`aios mcp ...`: MCP servers the kernel uses as drivers, and the kernel's own tools served over MCP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from aios.cli_common import _settings

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
