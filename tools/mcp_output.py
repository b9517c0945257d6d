"""An MCP tool result as the kernel's JSON output: text joined, structured content kept, binary described."""

from __future__ import annotations

import json
from typing import Any, assert_never

from mcp import types

from aios.kernel.errors import ToolError


def tool_output(
    driver: str, tool: str, result: types.CallToolResult, *, max_chars: int = 64_000
) -> dict[str, Any]:
    """`{"text": ..., "structured": ...}` (`structured` only when the server gave it); an error result is
    a ToolError carrying the server's own words. Past `max_chars` the text is cut and `truncated` set."""
    text = "\n".join(describe(block) for block in result.content)
    if result.isError:
        raise ToolError(f"{driver}.{tool} failed on the server: {text[:max_chars] or 'no message'}")
    output: dict[str, Any] = {"text": text[:max_chars]}
    truncated = len(text) > max_chars
    if result.structuredContent is not None:
        if len(json.dumps(result.structuredContent, default=str)) <= max_chars:
            output["structured"] = result.structuredContent
        else:
            truncated = True
    if truncated:
        output["truncated"] = True
    return output


def describe(block: types.ContentBlock) -> str:
    """Text as is; anything else as one short line (a model gains nothing from base64)."""
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        kind = "image" if isinstance(block, types.ImageContent) else "audio"
        return f"[{kind} {block.mimeType}, {len(block.data) * 3 // 4} bytes]"
    if isinstance(block, types.ResourceLink):
        return f"[resource {block.uri} ({block.name})]"
    if isinstance(block, types.EmbeddedResource):
        contents = block.resource
        size = (
            f"{len(contents.text)} chars"
            if isinstance(contents, types.TextResourceContents)
            else f"{len(contents.blob) * 3 // 4} bytes"
        )
        return f"[resource {contents.uri} ({contents.mimeType or 'unknown type'}, {size})]"
    assert_never(block)
