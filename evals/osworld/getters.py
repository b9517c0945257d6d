"""OSWorld's getters (`get_<type>`): each reads one piece of the task computer's final state."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from aios.evals.osworld.cache import cached
from aios.evals.osworld.guest import HOME, CommandResult
from aios.evals.osworld.unsupported import Unsupported

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\r")


class GuestOps(Protocol):
    def run(self, command: Any, *, shell: bool = ..., timeout_s: float | None = ...) -> CommandResult: ...

    def read_file(self, path: str) -> bytes | None: ...

    def write_file(self, path: str, data: bytes) -> None: ...


TASK_COMPUTER: ContextVar[GuestOps | None] = ContextVar("task_computer", default=None)
"""The computer of the task being scored, for the metrics that must run something in it (the agent's code
is run there, never on the host)."""


class BrowserOps(Protocol):
    def tabs(self) -> list[dict[str, str]]: ...

    def html(self, tab_id: str) -> str: ...

    def evaluate(self, tab_id: str, expression: str) -> Any: ...


@dataclass
class GetterContext:
    """What getters may use: the task's computer, its browser, the download cache, a folder for copies."""

    guest: GuestOps
    files: Path
    cache_dir: Path | None
    browser: Callable[[], BrowserOps]
    accessibility: Callable[[], str]
    terminal_log: Callable[[], str]


Getter = Callable[[GetterContext, dict[str, Any]], Any]


def _guest_path(path: str) -> str:
    return path if path.startswith("/") else str(PurePosixPath(HOME) / path)


def _given(items: list[Any], config: dict[str, Any]) -> Any:
    """OSWorld's `gives`: which of several files reach the metric (default the first), in file order; one
    is handed over alone."""
    gives = set(config.get("gives", [0]))
    chosen = [item for i, item in enumerate(items) if i in gives]
    return chosen[0] if len(chosen) == 1 else chosen


def _with_time_suffix(name: str, fmt: str) -> str:
    """Today's date before the extension, split at the first dot as OSWorld does."""
    if "." not in name:
        return name
    parts = name.split(".")
    return f"{parts[0]}{dt.datetime.now().strftime(fmt)}.{parts[1]}"


def vm_file(ctx: GetterContext, config: dict[str, Any]) -> str | list[str | None] | None:
    """Copy files out of the task computer; a missing one is None (its metric scores 0)."""
    if config.get("multi"):
        copies = [_copy(ctx, p, d) for p, d in zip(config["path"], config["dest"], strict=False)]
        return _given(copies, config)
    path, dest = config["path"], config.get("dest", config["path"])
    if config.get("time_suffix"):
        fmt = config.get("time_format", "%Y_%m_%d")
        path, dest = _with_time_suffix(path, fmt), _with_time_suffix(dest, fmt)
    return _copy(ctx, path, dest)


def _copy(ctx: GetterContext, path: str, dest: str) -> str | None:
    data = ctx.guest.read_file(_guest_path(path))
    if data is None:
        return None
    target = ctx.files / Path(dest).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return str(target)


def cloud_file(ctx: GetterContext, config: dict[str, Any]) -> str | list[str] | None:
    """Expected files that OSWorld fetches from the web: here, from the cache only."""
    if not config.get("multi"):
        return str(cached(ctx.cache_dir, config["path"], name=config.get("dest", "")))
    found = [
        str(cached(ctx.cache_dir, url, name=dest))
        for url, dest in zip(config["path"], config["dest"], strict=False)
    ]
    return _given(found, config)


def cache_file(ctx: GetterContext, config: dict[str, Any]) -> str:
    if ctx.cache_dir is None or not (ctx.cache_dir / config["path"]).is_file():
        raise FileNotFoundError(f"{config['path']} is not in the cache")
    return str(ctx.cache_dir / config["path"])


def content_from_vm_file(ctx: GetterContext, config: dict[str, Any]) -> list[str] | None:
    """The last data row of a workbook's first sheet, as pandas' `read_excel(...).iloc[-1]` writes it."""
    kind, what = config.get("file_type"), config.get("file_content")
    if kind != "xlsx" or what != "last_row":
        raise Unsupported(f"getter:content_from_vm_file:{kind}:{what}")
    local = _copy(ctx, config["path"], PurePosixPath(config["path"]).name)
    if local is None:
        return None
    from openpyxl import load_workbook

    sheet = load_workbook(local, data_only=True, read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    if len(rows) < 2:
        return None
    width = max(len(row) for row in rows)
    data = [row + [None] * (width - len(row)) for row in rows[1:]]
    return [_pandas_text(value, [row[i] for row in data]) for i, value in enumerate(data[-1])]


def _pandas_text(value: Any, column: list[Any]) -> str:
    """pandas gives a column one type: a gap makes its whole numbers floats, and a gap reads `nan`."""
    if value is None:
        return "nan"
    numbers = [v for v in column if v is not None]
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in numbers)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers)
    if numeric and not (whole and len(numbers) == len(column)):
        return str(float(value))
    return str(value)


def _expand_home(command: Any) -> Any:
    """OSWorld's guest expands a leading `~/` in each argument of a command given as a list."""
    if isinstance(command, list):
        return [HOME + arg[1:] if isinstance(arg, str) and arg.startswith("~/") else arg for arg in command]
    return command


def vm_command_line(ctx: GetterContext, config: dict[str, Any]) -> str:
    return ctx.guest.run(_expand_home(config["command"]), shell=bool(config.get("shell"))).stdout


def vm_command_error(ctx: GetterContext, config: dict[str, Any]) -> str:
    return ctx.guest.run(_expand_home(config["command"]), shell=bool(config.get("shell"))).stderr


def vm_terminal_output(ctx: GetterContext, config: dict[str, Any]) -> str:
    """What the task's terminal shows (its log, control sequences removed)."""
    return ANSI.sub("", ctx.terminal_log())


_LIST_SCRIPT = (
    'cd "$1" 2>/dev/null || exit 3; find -L . -mindepth 1 \\( -type d -printf "d %P\\n" \\) '
    '-o -printf "f %P\\n" 2>/dev/null; exit 0'
)
"""Folders are followed through links, as OSWorld's guest (os.path.isdir) does."""


def list_directory(ctx: GetterContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """The folder as a tree of {type, name, children}, as OSWorld's guest returns it; None if missing."""
    path = _guest_path(config["path"])
    result = ctx.guest.run(["/bin/sh", "-c", _LIST_SCRIPT, "sh", path])
    if result.returncode != 0:
        return None
    root: dict[str, Any] = {"type": "directory", "name": path.rsplit("/", 1)[-1], "children": []}
    folders = {"": root}
    for line in sorted(result.stdout.splitlines(), key=lambda ln: ln[2:]):
        kind, rel = line[0], line[2:]
        parent = folders.get(rel.rpartition("/")[0])
        if parent is None:
            continue
        node: dict[str, Any] = {
            "type": "directory" if kind == "d" else "file",
            "name": rel.rpartition("/")[2],
        }
        if kind == "d":
            node["children"] = []
            folders[rel] = node
        parent["children"].append(node)
    return root


def rule(ctx: GetterContext, config: dict[str, Any]) -> Any:
    return config["rules"]


_DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _nth_of_next_month(now: dt.datetime, day: int) -> dt.datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return dt.datetime(year, month, day)


def _first_monday_four_months_on(now: dt.datetime) -> dt.datetime:
    """OSWorld computes month (m + 4) % 12, which fails in August; the calendar month is used here."""
    month_index = now.month - 1 + 4
    first = dt.datetime(now.year + month_index // 12, month_index % 12 + 1, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7)


def _next_friday(now: dt.datetime, after_next_monday: bool) -> dt.datetime:
    """The Friday after a `next Monday` start, else the coming Friday (Friday itself counts forward)."""
    weekday = now.weekday()
    if weekday < 4:
        return now + dt.timedelta(days=4 - weekday + (7 if after_next_monday else 0))
    return now + dt.timedelta(days=6 - weekday + 5)


def relative_day(phrase: str, now: dt.datetime, start: str | None = None) -> dt.datetime:
    """OSWorld's relative-time vocabulary; `start` is the range's `from` phrase when this is its `to`."""
    weekday = now.weekday()
    fixed = {
        "tomorrow": lambda: now + dt.timedelta(days=1),
        "this month": lambda: now,
        "5th next month": lambda: _nth_of_next_month(now, 5),
        "10th next month": lambda: _nth_of_next_month(now, 10),
        "11th next month": lambda: _nth_of_next_month(now, 11),
        "this Saturday": lambda: now + dt.timedelta(days=5 - weekday),
        "this Sunday": lambda: now + dt.timedelta(days=6 - weekday),
        "next Monday": lambda: now + dt.timedelta(days=7 - weekday),
        "next Friday": lambda: _next_friday(now, start == "next Monday"),
        "first monday four months later": lambda: _first_monday_four_months_on(now),
    }
    if phrase not in fixed:
        raise Unsupported(f"getter:rule_relativeTime:{phrase}")
    return fixed[phrase]()


def time_format(template: str, day: dt.datetime) -> str:
    """Fills OSWorld's placeholders ({DoW}, {Month}, {DayD}, {Year}, {Month0D}, {month}, {MonthFull},
    {Day0D}); each only at its first occurrence, as OSWorld does."""
    values = {
        "{DoW}": _DAY_NAMES[day.weekday()],
        "{Month}": _MONTH_NAMES[day.month - 1][:3],
        "{DayD}": str(day.day),
        "{Year}": str(day.year),
        "{Month0D}": f"{day.month:02d}",
        "{month}": _MONTH_NAMES[day.month - 1].lower(),
        "{MonthFull}": _MONTH_NAMES[day.month - 1],
        "{Day0D}": f"{day.day:02d}",
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, value, 1)
    return template


def rule_relative_time(ctx: GetterContext, config: dict[str, Any]) -> Any:
    """`rules` whose expected `time` (or `from`/`to`) text names a day relative to now: the phrases of
    `relativeTime` become dates written in those templates."""
    rules = dict(config["rules"])
    when, expected = rules["relativeTime"], dict(rules["expected"])
    now = dt.datetime.now()
    if "to" not in when:
        expected["time"] = time_format(expected["time"], relative_day(when["from"], now))
    else:
        expected["from"] = time_format(expected["from"], relative_day(when["from"], now))
        expected["to"] = time_format(expected["to"], relative_day(when["to"], now, start=when["from"]))
    rules["expected"] = expected
    return rules


def active_tab_info(ctx: GetterContext, config: dict[str, Any]) -> dict[str, str] | None:
    tabs = ctx.browser().tabs()
    if not tabs:
        return None
    tab = tabs[0]
    return {"title": tab["title"], "url": tab["url"], "content": ctx.browser().html(tab["id"])}


def active_url(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    tabs = ctx.browser().tabs()
    return tabs[0]["url"] if tabs else None


def open_tabs_info(ctx: GetterContext, config: dict[str, Any]) -> list[dict[str, str]]:
    return [{"title": t["title"], "url": t["url"]} for t in ctx.browser().tabs()]


def active_tab_html(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    tabs = ctx.browser().tabs()
    return ctx.browser().html(tabs[0]["id"]) if tabs else None


def accessibility_tree(ctx: GetterContext, config: dict[str, Any]) -> str:
    return ctx.accessibility()


NETWORK_GETTERS = {
    "googledrive_file": "Google Drive",
    "info_from_website": "a live web page",
    "gotoRecreationPage_and_get_html_content": "a live web page",
    "pdf_from_url": "a live web page",
    "page_info": "a live web page",
    "number_of_search_results": "a live search engine",
}
"""Getters that read an online service: their tasks are reported as needing the network, never scored."""

GETTERS: dict[str, Getter] = {
    "vm_file": vm_file,
    "cloud_file": cloud_file,
    "cache_file": cache_file,
    "content_from_vm_file": content_from_vm_file,
    "vm_command_line": vm_command_line,
    "vm_command_error": vm_command_error,
    "vm_terminal_output": vm_terminal_output,
    "list_directory": list_directory,
    "rule": rule,
    "rule_relativeTime": rule_relative_time,
    "active_tab_info": active_tab_info,
    "active_url_from_accessTree": active_url,
    "open_tabs_info": open_tabs_info,
    "active_tab_html": active_tab_html,
    "accessibility_tree": accessibility_tree,
}
