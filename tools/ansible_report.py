"""A run's events as the driver's report: per task and host what happened (or would), with messages and diffs.

Reports fit the configured output limit: long diffs are cut first, then diffs dropped, then ok and skipped
tasks, then tasks from the end. Every task result is kept, uncut, beside the report, so an apply can tell
what a second check finds still changing.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from aios.kernel.errors import InvalidSyscall, ToolError
from aios.tools.ansible_run import RunOutcome
from aios.tools.configs import AnsibleConfig

Status = Literal["ok", "changed", "failed", "skipped", "unreachable", "ignored"]
STATUSES: tuple[Status, ...] = ("ok", "changed", "failed", "skipped", "unreachable", "ignored")
RESULT_EVENTS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"})
MESSAGE_CHARS = 1000
MAX_NOTES = 10


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
class TaskEntry:
    """One task result, uncut, with what it takes to find the same task in another run."""

    key: tuple[str, str]
    """(task path, host): the same task on the same host in another run of the same playbook."""
    label: str
    status: Status
    check_skipped: bool
    """Skipped only because check mode cannot run it (commands, raw, modules without check support)."""


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One run as the driver reports it, and every task result behind the report."""

    report: PlaybookReport
    """As returned (possibly cut to fit the output limit)."""
    entries: tuple[TaskEntry, ...]
    """Every task result, uncut."""

    def changed(self) -> set[tuple[str, str]]:
        """Keys of the tasks that changed something (or, in a check, would)."""
        return {e.key for e in self.entries if e.status == "changed"}

    def would_change(self, changed_before: set[tuple[str, str]]) -> list[str]:
        """Tasks a check finds changing, plus those check mode cannot run that changed in the run before."""
        return [
            e.label
            for e in self.entries
            if e.status == "changed" or (e.check_skipped and e.key in changed_before)
        ]


def summarise(outcome: RunOutcome, *, check: bool, config: AnsibleConfig, names: dict[str, str]) -> RunResult:
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
    entries: list[TaskEntry] = []
    for event in outcome.events:
        if event.get("event") not in RESULT_EVENTS:
            continue
        result, check_skipped = _task_result(event, config.max_diff_chars)
        result = result.model_copy(update={"msg": _rename(result.msg, names)})
        tasks.append(result)
        entries.append(
            TaskEntry(
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
    return RunResult(report=fit_report(report, config.max_output_chars), entries=tuple(entries))


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


def fit_report(report: Report, limit: int) -> Report:
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
