"""The `ansible` driver: check a playbook (`--check --diff`), and apply it once a human has approved.

Every call runs the static guard (`playbook_guard`) first, because check mode still runs lookups, plugins
and `check_mode: false` tasks. ansible-playbook then runs through ansible-runner with the playbook's folder
inside the process work dir (so relative paths land there), a fresh private folder per run for the
inventory, extra vars and runner artifacts (deleted afterwards), and a minimal environment: nothing of
aios's own environment (API keys) reaches ansible unless named in `pass_env`.

How calls end:
- the playbook does not parse, or the guard refuses it: InvalidSyscall naming the problems (nothing ran);
- tasks fail or hosts are unreachable: a report with `ok: false` and the failed tasks with their messages
  (an apply may have changed things before the failure, so this is data, not an exception);
- the time limit passes: ToolTimeout, after the ansible process group was killed;
- ansible cannot be started at all: ToolError.

An apply runs even when the check before it reported failed tasks (a task may need the output of a command
that check mode skips): the human who approved it saw that check.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import json
import logging
import os
import secrets
import shlex
import signal
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.errors import InvalidSyscall, SandboxUnavailable, ToolError, ToolTimeout
from aios.tools.configs import AnsibleConfig
from aios.tools.sandbox import confined_argv, find_bwrap, interpreter_paths
from aios.tools.sandbox_user import for_process, hand_over, hand_over_tree

logger = logging.getLogger(__name__)

Status = Literal["ok", "changed", "failed", "skipped", "unreachable", "ignored"]
STATUSES: tuple[Status, ...] = ("ok", "changed", "failed", "skipped", "unreachable", "ignored")
RESULT_EVENTS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"})
RUNNER_ENV = (
    "ANSIBLE_STDOUT_CALLBACK",
    "AWX_ISOLATED_DATA_DIR",
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "RUNNER_OMIT_EVENTS",
    "RUNNER_ONLY_FAILED_EVENTS",
)
"""Variables ansible-runner sets for its event callback; the rest it copied from os.environ is dropped."""
POLL_S = 0.25
"""How often the runner thread looks for a cancellation."""
MESSAGE_CHARS = 1000
MAX_NOTES = 10
PREVIEWS_KEPT = 32


class PlaybookArgs(BaseModel):
    """Arguments of `ansible.check` and `ansible.apply`."""

    model_config = ConfigDict(extra="forbid")

    playbook: str | None = Field(
        default=None,
        description="The playbook as YAML text: a list of plays.",
        examples=[
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            "    - ansible.builtin.copy: {dest: hello.txt, content: hi}\n"
        ],
    )
    playbook_file: str | None = Field(
        default=None, description="Instead of `playbook`: path of a playbook file in the work dir."
    )
    inventory: str | None = Field(
        default=None, description="INI inventory text; default: this machine over a local connection."
    )
    extra_vars: dict[str, Any] = Field(default_factory=dict, description="Variables passed with -e.")

    @model_validator(mode="after")
    def _one_playbook(self) -> PlaybookArgs:
        if (self.playbook is None) == (self.playbook_file is None):
            raise ValueError("give exactly one of playbook (YAML text) or playbook_file (a path)")
        return self


class TaskResult(BaseModel):
    """What one task did (or, in a check, would do) on one host."""

    task: str
    host: str
    status: Status
    msg: str = ""
    diff: str = ""


class PlaybookReport(BaseModel):
    """One ansible-playbook run, task by task."""

    mode: Literal["check", "apply"]
    ok: bool
    """No task failed (ignored failures aside) and every host was reached."""
    totals: dict[str, int]
    """Task results by status; in a check, `changed` means "would change"."""
    tasks: list[TaskResult]
    errors: list[str]
    warnings: list[str]
    truncated: bool = False
    duration_ms: float


Report = TypeVar("Report", bound=PlaybookReport)


class ApplyReport(PlaybookReport):
    """The real run, with the check before it and the idempotency check after it."""

    predicted: dict[str, int]
    """Totals of the check run before applying."""
    preview_reused: bool
    """The check shown to the approving human was reused instead of checking again."""
    idempotent: bool | None
    """A second check found nothing left to change; None when not checked (off, or the apply failed)."""
    still_changing: list[str]
    """`task @ host` entries that would change again (or, when check mode cannot run them, changed before)."""


@dataclass(frozen=True, kw_only=True)
class _Staged:
    """A guarded playbook ready to run, and the key of exactly what was checked."""

    playbook: Path
    name: str
    """How reports call the playbook (YAML text is staged under a generated file name)."""
    inventory: str
    extra_vars: dict[str, Any]
    key: str


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    status: str
    rc: int
    events: list[dict[str, Any]]
    duration_ms: float


@dataclass(frozen=True, kw_only=True)
class _Entry:
    key: tuple[str, str]
    """(task path, host): the same task on the same host in another run of the same playbook."""
    label: str
    status: Status
    check_skipped: bool
    """Skipped only because check mode cannot run it (commands, raw, modules without check support)."""


@dataclass(frozen=True, kw_only=True)
class _Run:
    report: PlaybookReport
    """As returned (possibly cut to fit the output limit)."""
    entries: tuple[_Entry, ...]
    """Every task result, uncut."""

    def changed(self) -> set[tuple[str, str]]:
        return {e.key for e in self.entries if e.status == "changed"}

    def would_change(self, changed_before: set[tuple[str, str]]) -> list[str]:
        """Tasks a check finds changing, plus those check mode cannot run that changed in the run before."""
        return [
            e.label
            for e in self.entries
            if e.status == "changed" or (e.check_skipped and e.key in changed_before)
        ]


@dataclass(frozen=True, kw_only=True)
class _Preview:
    pid: int
    at: float
    run: _Run


class AnsibleDriver(Driver):
    """Runs playbooks through ansible-runner: a guarded dry run for anyone, the real run after approval."""

    name = "ansible"
    exclusive = False
    max_concurrency = 2

    def __init__(self, config: AnsibleConfig | None = None) -> None:
        self.config = config or AnsibleConfig()
        self._previews: dict[str, _Preview] = {}  # staged key -> the check shown for an apply

    def operations(self) -> dict[str, Operation]:
        return {
            "check": Operation(
                name="check",
                description=(
                    "Dry-run an ansible playbook (--check --diff) and report per task and host what would "
                    "change, with diffs. Changes nothing. Relative paths are in your work dir."
                ),
                args_model=PlaybookArgs,
                risk=RiskLevel.READ,
                timeout_s=self.config.timeout_s,
                capability="ansible.check",
            ),
            "apply": Operation(
                name="apply",
                description=(
                    "Apply an ansible playbook for real after a human approves it; reports what changed "
                    "and whether a second check finds the result idempotent."
                ),
                args_model=PlaybookArgs,
                risk=RiskLevel.WRITE,
                timeout_s=self.config.timeout_s,
                capability="ansible.apply",
                ask_first=True,
            ),
        }

    def unconfined(self) -> frozenset[str]:
        """An apply runs its playbook with the daemon's rights (on localhost, as the daemon's OS user); so
        does a check when config turns its sandbox off."""
        return frozenset({"apply"} if self.config.sandbox_check else {"apply", "check"})

    async def health(self) -> DriverHealth:
        playbook_bin = _bin_dir() / "ansible-playbook"
        if not playbook_bin.exists():
            return DriverHealth(ok=False, detail=f"{playbook_bin} not found (pip install ansible-core)")
        proc = await asyncio.create_subprocess_exec(
            str(playbook_bin),
            "--version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=_base_environment(),
        )
        out, _ = await proc.communicate()
        first = out.decode(errors="replace").splitlines()[:1]
        if proc.returncode != 0 or not first:
            return DriverHealth(ok=False, detail=f"ansible-playbook --version failed: {out[-300:]!r}")
        return DriverHealth(
            ok=True, detail=f"{first[0].strip()}; connections: {self.config.allowed_connections}"
        )

    async def preview(self, operation: str, args: Any, ctx: CallContext) -> Any | None:
        """For an apply: the check report, so the human approving it sees what would change."""
        if operation != "apply":
            return None
        assert isinstance(args, PlaybookArgs), f"unexpected arguments {type(args).__name__}"
        async with self._deadline("ansible.apply preview"), self._staged(args, ctx) as staged:
            run = await self._run(staged, ctx, check=True)
        self._remember(staged.key, _Preview(pid=ctx.pid, at=time.monotonic(), run=run))
        return run.report.model_dump()

    async def call(self, operation: str, args: Any, ctx: CallContext) -> dict[str, Any]:
        assert operation in ("check", "apply"), f"unexpected operation {operation}"
        assert isinstance(args, PlaybookArgs), f"unexpected arguments {type(args).__name__}"
        async with self._deadline(f"ansible.{operation}"):
            if operation == "check":
                async with self._staged(args, ctx) as staged:
                    run = await self._run(staged, ctx, check=True)
                return run.report.model_dump()
            return (await self._apply(args, ctx)).model_dump()

    async def release(self, pid: int) -> None:
        for key in [k for k, p in self._previews.items() if p.pid == pid]:
            del self._previews[key]

    async def _apply(self, args: PlaybookArgs, ctx: CallContext) -> ApplyReport:
        async with self._staged(args, ctx) as staged:
            predicted = self._reuse(staged.key, ctx.pid)
            reused = predicted is not None
            if predicted is None:
                predicted = await self._run(staged, ctx, check=True)
            applied = await self._run(staged, ctx, check=False)
            idempotent: bool | None = None
            still: list[str] = []
            if self.config.check_idempotency and applied.report.ok:
                again = await self._run(staged, ctx, check=True)
                still = again.would_change(applied.changed())
                idempotent = again.report.ok and not still
        report = ApplyReport(
            **applied.report.model_dump(),
            predicted=predicted.report.totals,
            preview_reused=reused,
            idempotent=idempotent,
            still_changing=still,
        )
        return _fit(report, self.config.max_output_chars)

    @contextlib.asynccontextmanager
    async def _deadline(self, what: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.config.timeout_s):
                yield
        except TimeoutError as e:
            partial = "; changes made before the limit stay" if what == "ansible.apply" else ""
            raise ToolTimeout(f"{what} ran past {self.config.timeout_s:.0f}s and was stopped{partial}") from e

    @contextlib.asynccontextmanager
    async def _staged(self, args: PlaybookArgs, ctx: CallContext) -> AsyncIterator[_Staged]:
        """Guard the playbook; YAML text is written beside the work dir's files for the run, then removed."""
        root = ctx.workdir.resolve()
        if args.playbook is not None:
            path, text = root / f".aios-playbook-{secrets.token_hex(6)}.yml", args.playbook
        else:
            assert args.playbook_file is not None
            path = _playbook_file(args.playbook_file, root)
            text = await asyncio.to_thread(_read_text, path, self.config.max_playbook_chars)
        if len(text) > self.config.max_playbook_chars:
            raise InvalidSyscall(f"the playbook is longer than {self.config.max_playbook_chars} characters")
        # the guard's YAML and Jinja parsers load on the first playbook, not with every `aios` command
        from aios.tools.playbook_guard import GuardPolicy, guard_playbook, parse_inventory

        name = "playbook" if args.playbook is not None else str(args.playbook_file)
        inventory_text = self.config.inventory if args.inventory is None else args.inventory
        inventory = parse_inventory(inventory_text)
        policy = GuardPolicy(
            root=root,
            allowed_connections=frozenset(self.config.allowed_connections),
            allow_become=self.config.allow_become,
            allowed_environment=tuple(self.config.allowed_environment),
            allowed_modules=frozenset(self.config.allowed_modules),
            inventory_hosts=inventory.hosts,
            hosts_without_connection=inventory.hosts_without_connection,
        )
        checked = await asyncio.to_thread(
            guard_playbook,
            text,
            path=path,
            policy=policy,
            inventory=None if args.inventory is None else inventory,
            extra_vars=args.extra_vars,
            name=name,
        )
        arguments = json.dumps(args.model_dump(), sort_keys=True, default=str)
        key = hashlib.sha256(f"{root}\n{arguments}\n{checked.digest}".encode()).hexdigest()
        written = args.playbook is not None
        if written:
            await asyncio.to_thread(path.write_text, text)
        try:
            yield _Staged(
                playbook=path, name=name, inventory=inventory_text, extra_vars=args.extra_vars, key=key
            )
        finally:
            if written:
                path.unlink(missing_ok=True)

    def _remember(self, key: str, preview: _Preview) -> None:
        self._previews[key] = preview
        while len(self._previews) > PREVIEWS_KEPT:
            del self._previews[next(iter(self._previews))]

    def _reuse(self, key: str, pid: int) -> _Run | None:
        """The check shown to the approver, if it was of exactly these files and arguments, and recent."""
        preview = self._previews.pop(key, None)
        if preview is None or preview.pid != pid:
            return None
        if time.monotonic() - preview.at > self.config.preview_reuse_s:
            return None
        return preview.run

    async def _run(self, staged: _Staged, ctx: CallContext, *, check: bool) -> _Run:
        """One ansible-playbook run in a worker thread; cancelling it kills ansible and its workers."""
        stop = threading.Event()
        worker = asyncio.ensure_future(asyncio.to_thread(self._run_blocking, staged, ctx, check, stop))
        try:
            outcome = await asyncio.shield(worker)
        except asyncio.CancelledError:
            stop.set()
            await asyncio.wait({worker})
            raise
        return _summarise(outcome, check=check, config=self.config, names={str(staged.playbook): staged.name})

    def _run_blocking(
        self, staged: _Staged, ctx: CallContext, check: bool, stop: threading.Event
    ) -> _Outcome:
        try:  # imported on first use: aios starts without paying for it
            from ansible_runner.config.runner import RunnerConfig
            from ansible_runner.exceptions import AnsibleRunnerException
            from ansible_runner.runner import Runner
        except ImportError as e:
            raise ToolError(f"ansible-runner is not installed (pip install ansible-runner): {e}") from e

        started = time.monotonic()
        events: list[dict[str, Any]] = []

        def keep(event: dict[str, Any]) -> bool:
            events.append(event)
            return False  # nothing written to the artifact dir

        with tempfile.TemporaryDirectory(prefix="aios-ansible-") as private:
            folder = Path(private)

            def cancelled() -> bool:
                if stop.is_set():
                    _kill_run(private.encode())
                return stop.is_set()

            inventory = folder / "inventory.ini"
            inventory.write_text(staged.inventory)
            extra_vars = folder / "extra_vars.json"
            extra_vars.write_text(json.dumps(staged.extra_vars))
            (folder / "ansible.cfg").write_text("[defaults]\n")
            (folder / "env").mkdir()
            (folder / "env" / "settings").write_text(json.dumps({"pexpect_timeout": POLL_S}))
            options = ["--diff", "-v", "--forks", str(self.config.forks), "-e", f"@{extra_vars}"]
            try:
                runner_config = RunnerConfig(
                    private_data_dir=private,
                    playbook=str(staged.playbook),
                    inventory=str(inventory),
                    artifact_dir=str(folder / "artifacts"),
                    cmdline=shlex.join(["--check", *options] if check else options),
                    suppress_env_files=True,
                    suppress_output_file=True,
                    quiet=True,
                    ident="run",
                )
                runner_config.prepare()
                runner_config.env = self._environment(runner_config.env, folder)
                if check and self.config.sandbox_check:
                    runner_config.command = self._confined(runner_config.command, folder, ctx)
                    runner_config.env.update(HOME=str(folder), ANSIBLE_REMOTE_TEMP=str(folder / "remote"))
                runner_config.cwd = str(ctx.workdir)
                runner = Runner(config=runner_config, event_handler=keep, cancel_callback=cancelled)
                status, rc = runner.run()
            except AnsibleRunnerException as e:
                raise ToolError(f"ansible-runner failed: {e}") from e
        return _Outcome(status=status, rc=rc, events=events, duration_ms=(time.monotonic() - started) * 1000)

    def _environment(self, runner_env: dict[str, str], folder: Path) -> dict[str, str]:
        """ansible-runner's callback settings, the names in `pass_env`, and the driver's own settings."""
        from ansible_runner.utils import get_callback_dir

        env = {k: runner_env[k] for k in RUNNER_ENV if k in runner_env}
        env.update({name: os.environ[name] for name in self.config.pass_env if name in os.environ})
        env.update(_base_environment())
        env.update(
            TMPDIR=str(folder),
            ANSIBLE_CONFIG=str(folder / "ansible.cfg"),  # never an ansible.cfg from the work dir
            ANSIBLE_CALLBACK_PLUGINS=get_callback_dir(),
            ANSIBLE_LOCAL_TEMP=str(folder / "local"),
            ANSIBLE_INVENTORY_ENABLED="ini",
            ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
            ANSIBLE_HOST_KEY_CHECKING="True",
            ANSIBLE_RETRY_FILES_ENABLED="False",
            ANSIBLE_NOCOLOR="True",
            ANSIBLE_PYTHON_INTERPRETER="auto_silent",
            ANSIBLE_PIPELINING="True",
        )
        return env

    def _confined(self, command: list[str], folder: Path, ctx: CallContext) -> list[str]:
        bwrap = find_bwrap(self.config.bwrap)
        if bwrap is None:
            raise SandboxUnavailable(
                f"ansible check refused: {self.config.bwrap!r} not found (Debian: apt-get install "
                "bubblewrap), or set ansible.sandbox_check = false"
            )
        user = for_process(ctx.pid)
        hand_over(ctx.workdir, user)
        (folder / "artifacts" / "run" / "job_events").mkdir(parents=True, exist_ok=True)  # the callback's
        hand_over_tree(folder, user)  # the run's inventory, settings and artifacts
        return confined_argv(
            bwrap,
            command,
            user=user,
            cwd=ctx.workdir,
            writable=[folder],
            readonly=[ctx.workdir, *interpreter_paths()],
        )


def _kill_run(marker: bytes) -> None:
    """Kill ansible-playbook and its workers, found by this run's private folder in their command lines.

    Workers call setsid, so killing ansible-playbook's process group (what ansible-runner does) would
    leave them, and the modules they run, going. All are stopped first so none can fork past the kill.
    """
    pids = _pids_naming(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    pids |= _pids_naming(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pids_naming(marker: bytes) -> set[int]:
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
    return found


def _bin_dir() -> Path:
    """Where this interpreter's console scripts (ansible-playbook) live."""
    scripts = Path(sysconfig.get_path("scripts"))
    return scripts if (scripts / "ansible-playbook").exists() else Path(sys.executable).parent


def _base_environment() -> dict[str, str]:
    path = [str(_bin_dir()), str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    return {
        "PATH": os.pathsep.join(dict.fromkeys(path)),
        "HOME": str(Path.home()),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _playbook_file(name: str, root: Path) -> Path:
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise InvalidSyscall(f"playbook_file {name!r} is outside the process's work dir")
    if not path.is_file():
        raise InvalidSyscall(f"playbook_file {name!r} is not a file in the process's work dir")
    return path


def _read_text(path: Path, limit: int) -> str:
    data = path.read_bytes()
    if len(data) > limit:
        raise InvalidSyscall(f"{path.name} is longer than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidSyscall(f"{path.name} is not UTF-8 text") from e


def _summarise(outcome: _Outcome, *, check: bool, config: AnsibleConfig, names: dict[str, str]) -> _Run:
    """Events of one run as a report; a run that never started a play raises the parse error it printed.

    `names` maps file paths to what messages should call them (the staged playbook's generated name).
    """
    lines = [
        _rename(line.replace("\r", ""), names)
        for event in outcome.events
        if event.get("event") in ("verbose", "warning", "error")
        for line in str(event.get("stdout", "")).splitlines()
    ]
    started = any(e.get("event") == "playbook_on_start" for e in outcome.events)
    if not started and outcome.rc != 0:
        text = "\n".join(line for line in lines if line.strip())[-2000:]
        if outcome.rc == 127 or not text:
            raise ToolError(f"ansible-playbook could not run (exit {outcome.rc}): {text or outcome.status}")
        raise InvalidSyscall(f"ansible could not load the playbook: {text}")
    tasks: list[TaskResult] = []
    entries: list[_Entry] = []
    for event in outcome.events:
        if event.get("event") not in RESULT_EVENTS:
            continue
        result, check_skipped = _task_result(event, config.max_diff_chars)
        result = result.model_copy(update={"msg": _rename(result.msg, names)})
        tasks.append(result)
        entries.append(
            _Entry(
                key=_event_key(event),
                label=f"{result.task} @ {result.host}",
                status=result.status,
                check_skipped=check_skipped,
            )
        )
    totals = {status: sum(t.status == status for t in tasks) for status in STATUSES}
    report = PlaybookReport(
        mode="check" if check else "apply",
        ok=outcome.rc == 0 and not totals["failed"] and not totals["unreachable"],
        totals=totals,
        tasks=tasks,
        errors=_notes(lines, ("[ERROR]",)),
        warnings=_notes(lines, ("[WARNING]", "[DEPRECATION WARNING]")),
        duration_ms=outcome.duration_ms,
    )
    return _Run(report=_fit(report, config.max_output_chars), entries=tuple(entries))


def _task_result(event: dict[str, Any], max_diff_chars: int) -> tuple[TaskResult, bool]:
    """One task on one host, and whether it was skipped only because check mode cannot run it."""
    kind = event["event"]
    data = event.get("event_data", {})
    result = data.get("res") or {}
    status: Status
    check_skipped = False
    if kind == "runner_on_ok":
        status = "changed" if result.get("changed") else "ok"
    elif kind == "runner_on_failed":
        status = "ignored" if data.get("ignore_errors") else "failed"
    elif kind == "runner_on_unreachable":
        status = "unreachable"
    else:
        status = "skipped"
        # skipped events carry no result; with -v ansible prints it after "=>"
        result = _printed_result(str(event.get("stdout", "")))
        check_skipped = _skipped_by_check_mode(result)
    task = TaskResult(
        task=str(data.get("task") or data.get("task_action") or "?"),
        host=str(data.get("host") or "?"),
        status=status,
        msg=_message(result, status),
        diff=_diff(result, max_diff_chars),
    )
    return task, check_skipped


def _skipped_by_check_mode(result: dict[str, Any]) -> bool:
    """A skip with no condition or reason (itself or in any loop item) is check mode declining to run it."""
    reasons = {"false_condition", "skipped_reason", "skip_reason"}
    if reasons & set(result):
        return False
    items = [r for r in result.get("results", []) if isinstance(r, dict)]
    return not items or any(not reasons & set(item) for item in items)


def _rename(text: str, names: dict[str, str]) -> str:
    for path, name in names.items():
        text = text.replace(path, name)
    return text


def _event_key(event: dict[str, Any]) -> tuple[str, str]:
    data = event.get("event_data", {})
    return str(data.get("task_path") or data.get("task")), str(data.get("host"))


def _printed_result(stdout: str) -> dict[str, Any]:
    _, sep, text = stdout.partition(" => ")
    if not sep:
        return {}
    try:
        parsed = json.loads(text.strip())
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _message(result: dict[str, Any], status: Status) -> str:
    """The task's message; for failures also the first failing loop item and the command's stderr."""
    items = [r for r in result.get("results", []) if isinstance(r, dict)]
    failing = next((r for r in items if r.get("failed") or r.get("unreachable")), None)
    source = failing if failing is not None and status in ("failed", "ignored", "unreachable") else result
    message = source.get("msg", "")
    if status == "skipped" and not message and "false_condition" in result:
        message = f"condition was false: {result['false_condition']}"
    text = message if isinstance(message, str) else json.dumps(message, default=str)
    stderr = source.get("stderr")
    if status in ("failed", "ignored") and isinstance(stderr, str) and stderr.strip():
        text = f"{text}: {stderr.strip()}" if text else stderr.strip()
    return _clip(text, MESSAGE_CHARS)


def _diff(result: dict[str, Any], limit: int) -> str:
    """The task's diffs (loop items included) as unified diff text, cut at `limit` characters."""
    found: list[Any] = []
    for source in [result, *[r for r in result.get("results", []) if isinstance(r, dict)]]:
        diff = source.get("diff")
        found.extend(diff if isinstance(diff, list) else [diff] if diff else [])
    parts = []
    for diff in found:
        if not isinstance(diff, dict):
            continue
        if isinstance(diff.get("prepared"), str):
            parts.append(diff["prepared"])
            continue
        before, after = diff.get("before", ""), diff.get("after", "")
        if not isinstance(before, str) or not isinstance(after, str):
            before = json.dumps(before, indent=1, sort_keys=True, default=str) + "\n"
            after = json.dumps(after, indent=1, sort_keys=True, default=str) + "\n"
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=str(diff.get("before_header", "before")),
            tofile=str(diff.get("after_header", "after")),
        )
        parts.append("".join(lines))
    return _clip("".join(p if p.endswith("\n") else p + "\n" for p in parts if p), limit)


def _notes(lines: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """Messages that start with one of `prefixes`, each with its continuation lines (up to a blank one)."""
    notes: list[str] = []
    current: list[str] | None = None
    for line in lines:
        if line.startswith(prefixes):
            current = [line]
            notes.append("")
        elif current is not None and line.strip() and not line.startswith("["):
            current.append(line)
        else:
            current = None
        if current is not None:
            notes[-1] = _clip("\n".join(current), MESSAGE_CHARS)
    return list(dict.fromkeys(notes))[:MAX_NOTES]


def _fit(report: Report, limit: int) -> Report:
    """The report within `limit` characters of JSON: shorter diffs, then no diffs, then fewer tasks."""
    if len(report.model_dump_json()) <= limit:
        return report
    tasks = report.tasks
    steps = [
        [t.model_copy(update={"diff": _clip(t.diff, 200)}) for t in tasks],
        [t.model_copy(update={"diff": ""}) for t in tasks],
        [t.model_copy(update={"diff": ""}) for t in tasks if t.status not in ("ok", "skipped")],
    ]
    for fewer in steps:
        report = report.model_copy(update={"tasks": fewer, "truncated": True})
        if len(report.model_dump_json()) <= limit:
            return report
    kept = report.tasks
    while kept and len(report.model_dump_json()) > limit:
        kept = kept[: len(kept) // 2]
        report = report.model_copy(update={"tasks": kept})
    return report


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"
