"""The kernel's tools as an MCP server: an MCP client calls the drivers one kernel process may use, through
that process's capabilities, the approval desk and the audit log, like the process's own syscalls would."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server

from aios import __version__
from aios.kernel.contracts import KernelAPI
from aios.kernel.drivers import Operation, RiskLevel
from aios.kernel.errors import AiosError
from aios.kernel.syscalls import ToolResult, ToolSyscall

logger = logging.getLogger(__name__)

Caller = Callable[[], Awaitable[int]]
"""The kernel process the current MCP request speaks for (found from the request, or fixed)."""


def mcp_name(tool: str) -> str:
    """The MCP name of a kernel tool: clients pass MCP names on to models, and providers refuse dots."""
    return tool.replace(".", "__")


def describe(name: str, operation: Operation) -> types.Tool:
    """One kernel operation as an MCP tool, its risk given as the protocol's hints."""
    return types.Tool(
        name=mcp_name(name),
        title=name,
        description=operation.description,
        inputSchema=operation.json_schema(),
        annotations=types.ToolAnnotations(
            title=name,
            readOnlyHint=operation.risk == RiskLevel.READ,
            destructiveHint=operation.risk == RiskLevel.DESTRUCTIVE,
        ),
    )


def build_server(kernel: KernelAPI, caller: Caller) -> Server[Any, Any]:
    """An MCP server whose tools are what the calling process's capabilities allow."""
    server: Server[Any, Any] = Server("aios", version=__version__)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        pid = await caller()
        return [describe(name, op) for name, op in sorted(kernel.tool_operations(pid).items())]

    # the kernel validates arguments itself: its error names the tool and field, and the call is audited
    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        pid = await caller()
        by_mcp_name = {mcp_name(tool): tool for tool in kernel.tool_operations(pid)}
        tool = by_mcp_name.get(name)
        if tool is None:
            return _error(f"no tool {name!r} for this agent; it has {sorted(by_mcp_name)}")
        try:
            result = await kernel.syscall(pid, ToolSyscall(name=tool, arguments=arguments))
        except AiosError as e:
            return _error(f"{type(e).__name__}: {e}")
        assert isinstance(result, ToolResult), f"tool syscall answered with {type(result).__name__}"
        return _result(result.output)

    return server


def _result(output: Any) -> types.CallToolResult:
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structuredContent=output if isinstance(output, dict) else None,
    )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], isError=True)
