"""Device drivers: the tools agents reach through `tool` syscalls."""

from aios.tools.registry import build_drivers
from aios.tools.shell import ExecArgs, ShellConfig, ShellDriver

__all__ = ["ExecArgs", "ShellConfig", "ShellDriver", "build_drivers"]
