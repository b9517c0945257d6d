"""From a server's tool list to kernel operations, and the `[[mcp.servers]]` table; no server runs here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import types
from pydantic import ValidationError

from aios.config import load_settings
from aios.kernel.drivers import RiskLevel
from aios.kernel.errors import ConfigError, describe_validation
from aios.tools.mcp_catalog import build_catalog, kernel_name, tool_risk
from aios.tools.mcp_config import McpServerConfig
from aios.tools.mcp_output import tool_output

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


def tool(name: str, schema: dict[str, Any] | None = None, **hints: bool) -> types.Tool:
    annotations = types.ToolAnnotations(**hints) if hints else None
    return types.Tool(name=name, inputSchema=schema or SCHEMA, annotations=annotations)


def test_tool_names_become_operation_names() -> None:
    assert kernel_name("read_file") == "read_file"
    assert kernel_name("Get-Env") == "get_env"
    assert kernel_name("search.web--v2") == "search_web_v2"
    assert kernel_name("3d-render") == "tool_3d_render"
    assert kernel_name("???") == ""


def test_risk_follows_the_specs_defaults_and_config_wins() -> None:
    assert tool_risk(tool("t"), None) is RiskLevel.DESTRUCTIVE
    assert tool_risk(tool("t", readOnlyHint=True), None) is RiskLevel.READ
    assert tool_risk(tool("t", destructiveHint=False), None) is RiskLevel.WRITE
    assert tool_risk(tool("t", destructiveHint=True), None) is RiskLevel.DESTRUCTIVE
    assert tool_risk(tool("t", readOnlyHint=False, destructiveHint=False), None) is RiskLevel.WRITE
    assert tool_risk(tool("t", readOnlyHint=True), RiskLevel.DESTRUCTIVE) is RiskLevel.DESTRUCTIVE


def test_clashing_long_and_broken_tools_are_refused_and_the_rest_kept() -> None:
    config = McpServerConfig(name="srv", url="http://127.0.0.1:1/mcp", risk={"Search": "read"})
    catalog = build_catalog(
        config,
        [
            tool("Search"),
            tool("get-page"),
            tool("get_page"),
            tool("x" * 60),
            tool("bad_schema", {"type": "object", "properties": {"q": {"type": 12}}}),
        ],
    )
    assert list(catalog.operations) == ["search"]
    assert catalog.server_names == {"search": "Search"}
    operation = catalog.operations["search"]
    assert operation.risk is RiskLevel.READ and operation.capability == "mcp.srv.search"
    assert operation.json_schema() == SCHEMA
    assert "mcp.srv.get_page" in catalog.refused["get-page"] and "rename one" in catalog.refused["get_page"]
    assert "at most 64" in catalog.refused["x" * 60]
    assert "input schema is invalid" in catalog.refused["bad_schema"]
    with pytest.raises(ValidationError) as refused:
        operation.args_model.model_validate({"q": 5})
    assert describe_validation(refused.value) == "q: 5 is not of type 'string'"


def test_results_keep_text_and_structured_content_and_describe_the_rest() -> None:
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="two files"),
            types.ImageContent(type="image", data="aGVsbG8h", mimeType="image/png"),
            types.ResourceLink(type="resource_link", uri="file:///a.txt", name="a.txt"),
        ],
        structuredContent={"count": 2},
    )
    assert tool_output("mcp.fs", "ls", result) == {
        "text": "two files\n[image image/png, 6 bytes]\n[resource file:///a.txt (a.txt)]",
        "structured": {"count": 2},
    }


def test_the_config_table_is_checked_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[mcp.servers]]\nname = "files"\ncommand = "npx"\nargs = ["-y", "server"]\n'
        'folder = "/srv/shared"\nrisk = { write_file = "destructive" }\n\n'
        '[[mcp.servers]]\nname = "web"\nurl = "https://example.com/mcp"\n'
        'headers = { Authorization = "Bearer t" }\n'
    )
    settings = load_settings(path, data_dir=tmp_path / "data")
    files, web = settings.mcp.servers
    assert files.transport == "stdio" and files.folder == Path("/srv/shared")
    assert files.risk == {"write_file": RiskLevel.DESTRUCTIVE} and web.transport == "http"
    for text, problem in (
        ('[[mcp.servers]]\nname = "x"\n', "needs exactly one of `command`"),
        ('[[mcp.servers]]\nname = "x"\nurl = "http://h/mcp"\nfolder = "/tmp"\n', "are for stdio servers"),
        ('[[mcp.servers]]\nname = "x"\ncommand = "c"\nfolder = "rel"\n', "must be an absolute path"),
        ('[[mcp.servers]]\nname = "Big-Name"\ncommand = "c"\n', "mcp.servers.0.name"),
        ('[[mcp.servers]]\nname = "x"\nurl = "ftp://h/"\n', "not an http:// or https:// URL"),
        (
            '[[mcp.servers]]\nname = "x"\ncommand = "c"\n\n[[mcp.servers]]\nname = "x"\nurl = "http://h"\n',
            "unique",
        ),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=problem):
            load_settings(path, data_dir=tmp_path / "data")
