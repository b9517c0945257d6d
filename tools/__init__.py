"""Device drivers: the tools agents reach through `tool` syscalls.

The settings load with this package; the drivers (Playwright, Xlib, the kubernetes client, ansible) only
when one is asked for, so reading the configuration stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from aios.tools.browser_config import BrowserConfig
from aios.tools.configs import AnsibleConfig, GuiConfig, KubernetesConfig, ShellConfig

_LAZY = {
    "ExecArgs": "aios.tools.shell",
    "ShellDriver": "aios.tools.shell",
    "build_drivers": "aios.tools.registry",
}

__all__ = [
    "AnsibleConfig",
    "BrowserConfig",
    "ExecArgs",
    "GuiConfig",
    "KubernetesConfig",
    "ShellConfig",
    "ShellDriver",
    "build_drivers",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aios.tools' has no attribute {name!r}")
