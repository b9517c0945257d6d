"""An MCP server's tool list as kernel operations: names the kernel accepts, risk, schema, capability."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from mcp import types

from aios.kernel.drivers import Operation, RiskLevel
from aios.kernel.syscalls import FUNCTION_NAME_PATTERN
from aios.tools.mcp_config import McpServerConfig
from aios.tools.mcp_schema import arguments_model

logger = logging.getLogger(__name__)

MAX_SYSCALL_NAME = 64
"""Longest name a model may be offered (`FUNCTION_NAME_PATTERN`): `mcp.<server>.<tool>` included."""


def kernel_name(tool: str) -> str:
    """A server's tool name as an operation name: lowercase, `[a-z0-9_]`, starting with a letter."""
    name = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", tool.lower())).strip("_")
    if name and not name[0].isalpha():
        name = f"tool_{name}"
    return name


def tool_risk(tool: types.Tool, override: RiskLevel | None) -> RiskLevel:
    """Config first; else the server's hints, read as the MCP spec defaults them (not read-only: destructive).

    The hints come from the server, which is untrusted: they can make a call ask, never make config's
    answer weaker.
    """
    if override is not None:
        return override
    hints = tool.annotations
    if hints is not None and hints.readOnlyHint is True:
        return RiskLevel.READ
    if hints is not None and hints.destructiveHint is False:
        return RiskLevel.WRITE
    return RiskLevel.DESTRUCTIVE


@dataclass(kw_only=True)
class Catalog:
    """What the kernel can call on one server, and what it could not take."""

    operations: dict[str, Operation] = field(default_factory=dict)
    """Operation name -> operation."""
    server_names: dict[str, str] = field(default_factory=dict)
    """Operation name -> the tool's name on the server."""
    refused: dict[str, str] = field(default_factory=dict)
    """Server's tool name -> why it is not offered."""


def build_catalog(config: McpServerConfig, tools: list[types.Tool]) -> Catalog:
    """Operations for the server's tools; a tool whose name clashes, is too long or whose schema is broken
    is refused (listed with the reason) and the others are kept."""
    driver = f"mcp.{config.name}"
    catalog = Catalog()
    by_name: dict[str, list[types.Tool]] = {}
    for tool in tools:
        by_name.setdefault(kernel_name(tool.name), []).append(tool)
    for name, same in by_name.items():
        if len(same) > 1:
            clash = sorted(t.name for t in same)
            for tool in same:
                catalog.refused[tool.name] = f"{clash} all become {driver}.{name}; rename one on the server"
            continue
        [tool] = same
        full = f"{driver}.{name}"
        if not name or not re.fullmatch(FUNCTION_NAME_PATTERN, full) or len(full) > MAX_SYSCALL_NAME:
            catalog.refused[tool.name] = f"{full!r} is not a usable name (at most {MAX_SYSCALL_NAME} chars)"
            continue
        try:
            model = arguments_model(f"{name}_arguments", tool.inputSchema)
        except ValueError as e:
            catalog.refused[tool.name] = str(e)
            continue
        override = config.risk.get(tool.name, config.risk.get(name))
        catalog.operations[name] = Operation(
            name=name,
            description=tool.description or tool.title or tool.name,
            args_model=model,
            risk=tool_risk(tool, override),
            # the kernel's backstop: a call may first have to restart the server
            timeout_s=config.timeout_s + config.connect_timeout_s,
            capability=full,
        )
        catalog.server_names[name] = tool.name
    unknown = sorted(set(config.risk) - {t.name for t in tools} - set(catalog.operations))
    if unknown:
        logger.warning("%s: risk set in config for tools the server does not have: %s", driver, unknown)
    for tool, why in catalog.refused.items():
        logger.warning("%s: tool %r is not offered: %s", driver, tool, why)
    return catalog
