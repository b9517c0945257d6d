"""OSWorld's getters (`get_<type>`): each reads one piece of the task computer's final state."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
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


class BrowserOps(Protocol):
    def tabs(self) -> list[dict[str, str]]: ...

    def html(self, tab_id: str) -> str: ...


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


def vm_file(ctx: GetterContext, config: dict[str, Any]) -> str | list[str | None] | None:
    """Copy files out of the task computer; a missing one is None (its metric scores 0)."""
    paths, dests = config["path"], config.get("dest", config["path"])
    if config.get("multi"):
        gives = config.get("gives", list(range(len(paths))))
        copies = [_copy(ctx, p, d) for p, d in zip(paths, dests, strict=False)]
        return copies[gives[0]] if len(gives) == 1 else [copies[i] for i in gives]
    return _copy(ctx, paths, dests)


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
    urls = config["path"] if config.get("multi") else [config["path"]]
    dests = config.get("dest", urls) if config.get("multi") else [config.get("dest", "")]
    found = [str(cached(ctx.cache_dir, url, name=dest)) for url, dest in zip(urls, dests, strict=False)]
    if not config.get("multi"):
        return found[0]
    gives = config.get("gives", list(range(len(found))))
    return found[gives[0]] if len(gives) == 1 else [found[i] for i in gives]


def cache_file(ctx: GetterContext, config: dict[str, Any]) -> str:
    if ctx.cache_dir is None or not (ctx.cache_dir / config["path"]).is_file():
        raise FileNotFoundError(f"{config['path']} is not in the cache")
    return str(ctx.cache_dir / config["path"])


def content_from_vm_file(ctx: GetterContext, config: dict[str, Any]) -> Any:
    """A value read from a file: the last row of a spreadsheet (OSWorld's one use), or the text."""
    local = _copy(ctx, config["path"], PurePosixPath(config["path"]).name)
    if local is None:
        return None
    kind, what = config.get("file_type", "text"), config.get("file_content", "")
    if kind == "xlsx" and what == "last_row":
        from openpyxl import load_workbook

        sheet = load_workbook(local, data_only=True).active
        rows = list(sheet.iter_rows(values_only=True)) if sheet else []
        return [str(v) if v is not None else "" for v in rows[-1]] if rows else []
    if kind == "text":
        return Path(local).read_text(errors="replace")
    raise Unsupported(f"content_from_vm_file:{kind}:{what}")


def vm_command_line(ctx: GetterContext, config: dict[str, Any]) -> str:
    return ctx.guest.run(config["command"], shell=bool(config.get("shell"))).stdout


def vm_command_error(ctx: GetterContext, config: dict[str, Any]) -> str:
    return ctx.guest.run(config["command"], shell=bool(config.get("shell"))).stderr


def vm_terminal_output(ctx: GetterContext, config: dict[str, Any]) -> str:
    """What the task's terminal shows (its log, control sequences removed)."""
    return ANSI.sub("", ctx.terminal_log())


def list_directory(ctx: GetterContext, config: dict[str, Any]) -> dict[str, Any]:
    """The folder as a tree of {type, name, children}, as OSWorld's guest returns it."""
    script = (
        'cd "$1" 2>/dev/null || exit 3; find . -mindepth 1 \\( -type d -printf "d %P\\n" \\) '
        '-o -printf "f %P\\n"'
    )
    result = ctx.guest.run(["/bin/sh", "-c", script, "sh", _guest_path(config["path"])])
    if result.returncode != 0:
        raise FileNotFoundError(f"{config['path']} is not a folder")
    root: dict[str, Any] = {"type": "directory", "name": PurePosixPath(config["path"]).name, "children": []}
    folders = {"": root}
    for line in sorted(result.stdout.splitlines(), key=lambda ln: ln[2:]):
        kind, rel = line[0], line[2:]
        parent_key = str(PurePosixPath(rel).parent)
        parent = folders[parent_key if parent_key != "." else ""]
        node: dict[str, Any] = {
            "type": "directory" if kind == "d" else "file",
            "name": PurePosixPath(rel).name,
        }
        if kind == "d":
            node["children"] = []
            folders[rel] = node
        parent["children"].append(node)
    return root


def rule(ctx: GetterContext, config: dict[str, Any]) -> Any:
    return config["rules"]


_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def relative_day(spec: str, today: dt.date) -> dt.date:
    """'today', 'yesterday', 'tomorrow', 'N days ago', 'in N days', 'this/next/last <weekday>'."""
    text = spec.strip().lower()
    fixed = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if text in fixed:
        return today + dt.timedelta(days=fixed[text])
    if m := re.fullmatch(r"(\d+) days? ago", text):
        return today - dt.timedelta(days=int(m[1]))
    if m := re.fullmatch(r"in (\d+) days?", text):
        return today + dt.timedelta(days=int(m[1]))
    if (m := re.fullmatch(r"(this|next|last) (\w+)", text)) and m[2] in _WEEKDAYS:
        offset = (_WEEKDAYS.index(m[2]) - today.weekday()) % 7
        day = today + dt.timedelta(days=offset)
        return day + dt.timedelta(days=7 if m[1] == "next" else -7 if m[1] == "last" else 0)
    raise Unsupported(f"rule_relativeTime:{spec}")


def rule_relative_time(ctx: GetterContext, config: dict[str, Any]) -> Any:
    """`rules` whose expected strings name dates relative to today: `{from}` / `{to}` become those dates,
    formatted with strftime's `format` (default %Y-%m-%d)."""
    rules = dict(config["rules"])
    when = rules.get("relativeTime", {})
    fmt = rules.get("format", "%Y-%m-%d")
    today = dt.date.today()
    dates = {key: relative_day(spec, today).strftime(fmt) for key, spec in when.items()}
    expected = rules.get("expected")
    if isinstance(expected, dict):
        rules["expected"] = {k: v.format(**dates) if isinstance(v, str) else v for k, v in expected.items()}
    elif isinstance(expected, str):
        rules["expected"] = expected.format(**dates)
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
