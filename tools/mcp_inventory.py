"""What the configured MCP servers offer right now: each started, asked for its tools, checked, stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from aios.kernel.drivers import RiskLevel
from aios.tools.mcp_config import McpConfig
from aios.tools.mcp_driver import McpDriver


class ToolReport(BaseModel):
    """One tool as the kernel offers it."""

    name: str
    """The syscall name, `mcp.<server>.<tool>`."""
    server_name: str
    """The tool's own name on the server."""
    risk: RiskLevel
    capability: str


class ServerReport(BaseModel):
    """One configured server: how it is reached, whether it works, and its tools."""

    driver: str
    transport: Literal["stdio", "http"]
    ok: bool
    detail: str
    tools: list[ToolReport]
    refused: dict[str, str]
    """Tools the server has that the kernel does not offer, with the reason."""


async def inspect_servers(config: McpConfig, *, private: tuple[Path, ...] = ()) -> list[ServerReport]:
    """Start every server at once (each within its own timeout), report on it, and stop it again."""
    drivers = [McpDriver(server, private=private) for server in config.servers]
    try:
        await asyncio.gather(*(d.open() for d in drivers))
        return list(await asyncio.gather(*(_report(d) for d in drivers)))
    finally:
        await asyncio.gather(*(d.close() for d in drivers))


async def _report(driver: McpDriver) -> ServerReport:
    health = await driver.health()
    tools = [
        ToolReport(
            name=f"{driver.name}.{name}",
            server_name=driver.server_names[name],
            risk=op.risk,
            capability=op.capability,
        )
        for name, op in sorted(driver.operations().items())
    ]
    return ServerReport(
        driver=driver.name,
        transport=driver.config.transport,
        ok=health.ok,
        detail=health.detail,
        tools=tools,
        refused=driver.refused,
    )
