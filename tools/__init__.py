"""Device drivers: the tools agents reach through `tool` syscalls.

The settings load with this package; the drivers (Playwright, Xlib, the kubernetes client, ansible, the MCP
client) only when one is asked for, so reading the configuration stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from aios.tools.browser_config import BrowserConfig
from aios.tools.configs import AnsibleConfig, GuiConfig, KubernetesConfig, ShellConfig
from aios.tools.mcp_config import McpConfig, McpServerConfig

_LAZY = {
    "ExecArgs": "aios.tools.shell",
    "McpDriver": "aios.tools.mcp_driver",
    "ShellDriver": "aios.tools.shell",
    "build_drivers": "aios.tools.registry",
}

__all__ = [
    "AnsibleConfig",
    "BrowserConfig",
    "ExecArgs",
    "GuiConfig",
    "KubernetesConfig",
    "McpConfig",
    "McpDriver",
    "McpServerConfig",
    "ShellConfig",
    "ShellDriver",
    "build_drivers",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aios.tools' has no attribute {name!r}")
