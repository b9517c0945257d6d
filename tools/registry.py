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
from aios.tools.shell import ShellDriver


def build_drivers(
    *,
    shell: ShellConfig,
    browser: BrowserConfig | None = None,
    gui: GuiConfig | None = None,
    kubernetes: KubernetesConfig | None = None,
    ansible: AnsibleConfig | None = None,
    cwd: Path | None = None,
    private: tuple[Path, ...] = (),
) -> dict[str, Driver]:
    """Every driver this build ships, by name; each opens its device lazily, on first use.

    `private` folders (the data dir) are never shown to sandboxed commands, even inside `cwd`.
    """
    drivers: list[Driver] = [
        ShellDriver(shell, cwd=cwd, private=private),
        BrowserDriver(browser),
        GuiDriver(gui),
        KubernetesDriver(kubernetes),
        AnsibleDriver(ansible),
    ]
    return {d.name: d for d in drivers}
