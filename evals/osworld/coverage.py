"""What a task needs that this runner or machine lacks, found without starting a computer: every reason,
by kind (a missing app, getter, metric or step; the network; real root), for `aios eval osworld check`."""

from __future__ import annotations

import shlex
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field

from aios.evals.osworld import apps
from aios.evals.osworld.cache import cached
from aios.evals.osworld.catalog import GETTERS, METRICS, option_gaps
from aios.evals.osworld.getters import NETWORK_GETTERS
from aios.evals.osworld.guest import GuestConfig, task_commands
from aios.evals.osworld.known_limits import KNOWN_LIMITS
from aios.evals.osworld.setup_steps import NOT_OFFLINE, STEPS
from aios.evals.osworld.task import Step, Task, TaskFormatError
from aios.evals.osworld.unsupported import NeedsNetwork

KINDS = ("app", "getter", "metric", "setup", "network", "root")
"""Why a task is not supported, in the order a task's first reason is picked."""

ROOT_COMMANDS = (
    "apt-get",
    "apt ",
    "dpkg",
    "snap ",
    "systemctl",
    "timedatectl",
    "chsh",
    "useradd",
    "usermod",
    "mount ",
)
"""Setup commands that change the machine itself: run with real root in OSWorld's VM, never here."""


class Reason(BaseModel):
    kind: str
    what: str
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.what}"

    def __str__(self) -> str:
        return self.key + (f" ({self.detail})" if self.detail else "")


def _command_argv(command: Any) -> list[str]:
    if isinstance(command, str):
        try:
            return shlex.split(command)
        except ValueError:
            return command.split()
    return [str(c) for c in command]


def _program(step: Step) -> str:
    argv = _command_argv(step.parameters.get("command", []))
    return PurePosixPath(argv[0]).name if argv else ""


def _step_reasons(
    steps: list[Step], cache_dir: Path | None, missing_files: list[str], *, online: bool
) -> list[Reason]:
    reasons: list[Reason] = []
    provided = task_commands()
    for step in steps:
        p = step.parameters
        if step.type in NOT_OFFLINE:
            reasons.append(Reason(kind="network", what=f"setup:{step.type}", detail="an online account"))
        elif step.type not in STEPS:
            reasons.append(Reason(kind="setup", what=step.type))
        elif step.type in ("launch", "execute", "command"):
            text = " ".join(_command_argv(p.get("command", [])))
            program = _program(step)
            needs_root = [c.strip() for c in ROOT_COMMANDS if c in text] if "sudo" in text else []
            if needs_root:
                reasons.append(Reason(kind="root", what=needs_root[0], detail=text[:60]))
            elif step.type == "launch" and program not in provided and not shutil.which(program):
                reasons.append(Reason(kind="app", what=program, detail="not installed"))
        elif step.type == "download":
            for item in p.get("files", []):
                _cached_or_noted(cache_dir, item.get("url", ""), item.get("path", ""), missing_files)
        elif step.type == "chrome_open_tabs":
            for url in p.get("urls_to_open", []):
                if not online and _live_page(url, cache_dir):
                    reasons.append(Reason(kind="network", what="web page", detail=urlparse(url).netloc))
                    break
    return reasons


def _live_page(url: str, cache_dir: Path | None) -> bool:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or parsed.hostname in ("localhost", "127.0.0.1"):
        return False
    try:
        cached(cache_dir, url)
    except (NeedsNetwork, FileNotFoundError):
        return True
    return False


def _cached_or_noted(cache_dir: Path | None, url: str, name: str, missing: list[str]) -> None:
    try:
        cached(cache_dir, url, name=name)
    except (NeedsNetwork, FileNotFoundError):
        missing.append(url)


def _getter_reasons(spec: dict[str, Any] | None, cache_dir: Path | None, missing: list[str]) -> list[Reason]:
    if not spec:
        return []
    kind = str(spec.get("type"))
    if kind in NETWORK_GETTERS:
        return [Reason(kind="network", what=f"getter:{kind}", detail=NETWORK_GETTERS[kind])]
    if kind not in GETTERS:
        return [Reason(kind="getter", what=kind)]
    if kind == "cloud_file":
        urls = spec.get("path") if spec.get("multi") else [spec.get("path")]
        dests = spec.get("dest") if spec.get("multi") else [spec.get("dest", "")]
        for url, dest in zip(urls or [], dests or [""] * len(urls or []), strict=False):
            _cached_or_noted(cache_dir, str(url), str(dest or ""), missing)
    return []


def task_reasons(
    task: Task, guest: GuestConfig, cache_dir: Path | None = None, *, online: bool = False
) -> tuple[list[Reason], list[str]]:
    """Every reason the task cannot run here, and the downloads absent from the cache (not a reason: a
    cache can be filled). `online` takes live web pages as reachable; online accounts never are."""
    missing: list[str] = []
    steps = [*task.config, *task.evaluator.postconfig]
    reasons = _step_reasons(steps, cache_dir, missing, online=online)
    if task.id in KNOWN_LIMITS:
        kind, what, why = KNOWN_LIMITS[task.id]
        if not (online and kind == "network"):
            reasons.append(Reason(kind=kind, what=what, detail=why))
    for name, result, expected, options in task.evaluator.metrics():
        if name not in METRICS:
            reasons.append(Reason(kind="metric", what=name))
        else:
            reasons.extend(Reason(kind="metric", what=gap) for gap in option_gaps(name, options))
        for spec in (result, expected):
            reasons.extend(_getter_reasons(spec, cache_dir, missing))
    for app in dict.fromkeys(apps.app_name(a) for a in task.related_apps):
        binary = guest.chromium if app == "chrome" else apps.APP_BINARIES.get(app)
        if binary is not None and shutil.which(binary) is None:
            reasons.append(Reason(kind="app", what=app, detail=f"{binary} is not installed"))
    unique = list({r.key: r for r in reasons}.values())
    return sorted(unique, key=lambda r: KINDS.index(r.kind)), list(dict.fromkeys(missing))


class DomainCoverage(BaseModel):
    tasks: int = 0
    supported: int = 0
    cache_missing: int = 0
    """Supported tasks whose only lack is a download absent from the cache."""
    reasons: Counter[str] = Field(default_factory=Counter)
    """Each reason, counted once per task that has it."""
    first_reasons: Counter[str] = Field(default_factory=Counter)
    """Each unsupported task counted once, under its first reason's kind."""


class Coverage(BaseModel):
    domains: dict[str, DomainCoverage] = Field(default_factory=dict)
    bad_files: list[str] = Field(default_factory=list)
    unsupported: dict[str, list[str]] = Field(default_factory=dict)
    """Task (domain/id) -> its reasons."""

    @property
    def tasks(self) -> int:
        return sum(d.tasks for d in self.domains.values())

    @property
    def supported(self) -> int:
        return sum(d.supported for d in self.domains.values())

    @property
    def cache_missing(self) -> int:
        return sum(d.cache_missing for d in self.domains.values())

    def reasons(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for d in self.domains.values():
            total.update(d.reasons)
        return total

    def last_line(self) -> str:
        share = self.supported / self.tasks if self.tasks else 0.0
        return (
            f"tasks={self.tasks} supported={self.supported} supported_share={share:.2f} "
            f"cache_missing={self.cache_missing} bad_files={len(self.bad_files)}"
        )


def coverage(
    tasks: list[Task],
    guest: GuestConfig,
    *,
    cache_dir: Path | None = None,
    bad: Sequence[TaskFormatError] = (),
    online: bool = False,
) -> Coverage:
    """How many tasks per domain this runner can run here, and why the others cannot."""
    result = Coverage(bad_files=[str(e) for e in bad])
    for task in tasks:
        domain = result.domains.setdefault(task.domain, DomainCoverage())
        domain.tasks += 1
        reasons, missing = task_reasons(task, guest, cache_dir, online=online)
        if not reasons:
            domain.supported += 1
            domain.cache_missing += bool(missing)
            continue
        domain.reasons.update(r.key for r in reasons)
        domain.first_reasons[reasons[0].kind] += 1
        result.unsupported[f"{task.domain}/{task.id}"] = [str(r) for r in reasons]
    return result
