"""`aios mcp ...`: MCP servers the kernel uses as drivers, and the kernel's own tools served over MCP."""

from __future__ import annotations

import typer

mcp_app = typer.Typer(
    help="MCP: servers used as drivers (list), the kernel's tools as a server (serve).", no_args_is_help=True
)
