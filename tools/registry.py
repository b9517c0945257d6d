"""Builds the installed drivers from configuration."""

from __future__ import annotations

from pathlib import Path

from aios.kernel.drivers import Driver
from aios.tools.ansible import AnsibleDriver
from aios.tools.browser import BrowserDriver
from aios.tools.browser_config import BrowserConfig
from aios.tools.configs import AnsibleConfig, GuiConfig, KubernetesConfig, ShellConfig
from aios.tools.gui import GuiDriver
from aios.tools.kubernetes import KubernetesDriver
from aios.tools.mcp_config import McpConfig
from aios.tools.mcp_driver import McpDriver
from aios.tools.shell import ShellDriver


def build_drivers(
    *,
    shell: ShellConfig,
    browser: BrowserConfig | None = None,
    gui: GuiConfig | None = None,
    kubernetes: KubernetesConfig | None = None,
    ansible: AnsibleConfig | None = None,
    mcp: McpConfig | None = None,
    cwd: Path | None = None,
    private: tuple[Path, ...] = (),
) -> dict[str, Driver]:
    """Every driver this build ships, by name; each opens its device lazily, on first use.

    `private` folders (the data dir) are never shown to sandboxed commands, even inside `cwd`. Each MCP
    server is a driver `mcp.<name>`, opened at boot to learn its tools.
    """
    drivers: list[Driver] = [
        ShellDriver(shell, cwd=cwd, private=private),
        BrowserDriver(browser),
        GuiDriver(gui),
        KubernetesDriver(kubernetes),
        AnsibleDriver(ansible),
        *build_mcp_drivers(mcp or McpConfig(), private=private),
    ]
    return {d.name: d for d in drivers}


def build_mcp_drivers(config: McpConfig, *, private: tuple[Path, ...] = ()) -> list[McpDriver]:
    """A driver per configured MCP server (nothing is started until it is opened)."""
    return [McpDriver(server, private=private) for server in config.servers]
