"""Driver settings (the `[shell]`, `[gui]`, `[kubernetes]` and `[ansible]` tables): plain models that load
without their drivers, so reading the configuration stays fast."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aios.tools.k8s_args import NAMESPACE_PATTERN
from aios.tools.screen_images import ScreenshotConfig
from aios.tools.secret_files import SECRET_FILE_PATTERNS

SAFE_ENVIRONMENT = (
    "http_proxy", "https_proxy", "no_proxy", "ftp_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
    "NO_PROXY", "FTP_PROXY", "ALL_PROXY", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM", "DEBIAN_FRONTEND",
)  # fmt: skip
"""`environment:` names allowed by default. Many others make a program run code (LD_PRELOAD, PATH, HOME
with a .gitconfig, GIT_SSH_COMMAND, PYTHONSTARTUP, ...), and programs do run in check mode (git ls-remote)."""


class ShellConfig(BaseModel):
    """Settings of the shell driver."""

    model_config = ConfigDict(extra="forbid")

    allow_unsandboxed: bool = False
    """Run commands without bubblewrap when it is missing or broken (rlimits still apply). Off by default."""
    timeout_s: float = Field(default=30.0, gt=0)
    cpu_seconds: int = Field(default=10, ge=1)
    memory_mb: int = Field(default=1024, ge=16)
    file_size_mb: int = Field(default=64, ge=1)
    max_processes: int = Field(default=256, ge=8)
    """Processes and threads of one command at once (pids.max of its cgroup; where aios runs as root, also
    RLIMIT_NPROC of its process's uid, which its agent's other sandboxes share)."""
    output_bytes: int = Field(default=64 * 1024, ge=256)
    """Most bytes kept of stdout and of stderr; the command is stopped when it writes more."""
    mount_cwd: bool = True
    """Show the folder aios was started in, read-only, and start commands there."""
    hidden_files: list[str] = list(SECRET_FILE_PATTERNS)
    """Names (globs) in that folder that commands see empty: `.env`, keys, credential folders, ..."""
    bwrap: str = "bwrap"


def _default_window_manager() -> str | None:
    return "openbox" if shutil.which("openbox") else None


class GuiConfig(BaseModel):
    """Settings of the gui driver."""

    model_config = ConfigDict(extra="forbid")

    display: str | None = None
    """An existing X display to drive (e.g. the user's own `:0`); None starts a private Xvfb (the default)."""
    width: int = Field(default=1280, ge=64, le=8192)
    height: int = Field(default=800, ge=64, le=8192)
    depth: Literal[16, 24] = 24
    window_manager: str | None = Field(default_factory=_default_window_manager)
    """Window manager started on the private display (focus, stacking, frames); None runs without one."""
    apps: dict[str, list[str]] = Field(default_factory=lambda: {"xterm": ["xterm"]})
    """What `gui.launch` may start: app name -> argv; agents add arguments, never other programs."""
    sandbox_apps: bool = True
    """Run launched apps in the bubblewrap sandbox (private work dir, no network, read-only system)."""
    timeout_s: float = Field(default=10.0, gt=0)
    """Limit of one input, window or screenshot operation."""
    launch_timeout_s: float = Field(default=15.0, gt=0)
    """How long `gui.launch` waits for the app's first window."""
    start_timeout_s: float = Field(default=10.0, gt=0)
    """How long Xvfb and the window manager may take to start."""
    app_cpu_seconds: int = Field(default=3600, ge=1)
    app_memory_mb: int = Field(default=4096, ge=64)
    app_file_size_mb: int = Field(default=256, ge=1)
    app_max_processes: int = Field(default=512, ge=8)
    """Processes and threads of the apps one process launched (RLIMIT_NPROC of its uid, where aios runs
    as root)."""
    screenshot: ScreenshotConfig = Field(default_factory=ScreenshotConfig)
    """How `gui.screenshot` scales and encodes the screen for a model (`[gui.screenshot]`)."""
    bwrap: str = "bwrap"

    @field_validator("apps")
    @classmethod
    def _apps_have_commands(cls, apps: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, argv in apps.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name):
                raise ValueError(f"app name {name!r} must be lowercase letters, digits, '_', '.' or '-'")
            if not argv or not argv[0]:
                raise ValueError(f"app {name!r} needs a command (a non-empty argv list)")
        return apps


class KubernetesConfig(BaseModel):
    """Settings of the kubernetes driver (the `[kubernetes]` table)."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: Path | None = None
    """None: kubectl's rules (KUBECONFIG, else ~/.kube/config, else the pod's service account)."""
    context: str | None = None
    """Kubeconfig context to use; None: its current context."""
    namespace: str | None = Field(default=None, min_length=1, max_length=63, pattern=NAMESPACE_PATTERN)
    """Namespace of calls that name none; None: the context's namespace, else `default` (as kubectl)."""
    request_timeout_s: float = Field(default=30.0, gt=0)
    """Per API request; an operation makes a few (apply: get, dry run, write per object)."""
    exec_timeout_s: float = Field(default=60.0, gt=0)
    max_log_bytes: int = Field(default=64 * 1024, ge=1024)
    """Newest bytes of a pod's log kept by `logs`."""
    max_output_bytes: int = Field(default=64 * 1024, ge=256)
    """Most bytes of stdout plus stderr kept by `exec`; the stream is closed past it."""
    max_list_items: int = Field(default=100, ge=1, le=5000)
    max_manifest_objects: int = Field(default=20, ge=1, le=500)
    max_diff_lines: int = Field(default=200, ge=10)
    field_manager: str = Field(default="aios", min_length=1, max_length=128)
    """Owner of the fields that server-side apply sets."""
    force_conflicts: bool = False
    """Take over fields another manager owns when applying (kubectl --force-conflicts)."""


class AnsibleConfig(BaseModel):
    """Settings of the ansible driver."""

    model_config = ConfigDict(extra="forbid")

    inventory: str = (
        "localhost ansible_connection=local ansible_python_interpreter='{{ ansible_playbook_python }}'\n"
    )
    """Inventory (INI or YAML) used when a call gives none; trusted (its variables are not checked). By
    default this machine, its modules run by aios's own Python (no interpreter discovery). Reading the
    configuration never loads ansible: one it cannot read is reported by `aios doctor` and refused by
    every call."""
    allowed_connections: list[str] = ["local"]
    """Connection plugins plays and inventories may use; add `ssh` to manage other machines."""
    allow_become: bool = False
    """Let playbooks use `become` (sudo); off, so nothing runs with more rights than aios has."""
    allowed_environment: list[str] = list(SAFE_ENVIRONMENT)
    """Glob patterns of the variables a play or task may set with `environment:`."""
    allowed_modules: list[str] = []
    """If not empty, the only modules tasks may use (short names: `copy`, `community.general.ini_file`)."""
    timeout_s: float = Field(default=300.0, gt=0)
    """Wall-clock limit of one operation, all its ansible runs together."""
    check_idempotency: bool = True
    """After a successful apply, check the playbook again and report what would still change."""
    preview_reuse_s: float = Field(default=300.0, ge=0)
    """How long an apply may reuse the check shown to the approving human instead of checking again."""
    max_output_chars: int = Field(default=20_000, ge=2000)
    """Most characters of JSON one report may take; diffs, then ok/skipped tasks, are dropped to fit."""
    max_diff_chars: int = Field(default=2000, ge=0)
    """Most characters of diff kept per task."""
    max_playbook_chars: int = Field(default=256 * 1024, ge=1)
    forks: int = Field(default=5, ge=1)
    pass_env: list[str] = []
    """Names of aios's environment variables passed on to ansible (e.g. SSH_AUTH_SOCK); no others are."""
    sandbox_check: bool = True
    """Run check-mode runs in bubblewrap (homes and secret files hidden, no network, nothing writable but
    the run's own folder): a dry run needs no approval, and `--diff` would otherwise print any file aios
    can read, `~/.ssh` keys included. Applies are approved by a human and run unconfined."""
    bwrap: str = "bwrap"
