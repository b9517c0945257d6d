"""OSWorld's general file metrics (JSON/YAML, csv, sqlite, config and text files), its checks of desktop
state (the clipboard, GNOME settings, the accessibility tree), and the getters for the screen, windows,
wallpaper and time ranges."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from rapidfuzz import fuzz

from aios.evals.osworld.a11y_selectors import AT_NAMESPACES, css_to_xpath
from aios.evals.osworld.getters import Getter, GetterContext, _copy
from aios.evals.osworld.guest import GuestConfig
from aios.evals.osworld.metrics import Metric, expected_records
from aios.evals.osworld.result_files import read_text
from aios.evals.osworld.unsupported import Unsupported
from aios.evals.osworld.value_rules import match_value

log = logging.getLogger(__name__)


# --- general.py ---


def _load_structured(path: str, is_yaml: bool) -> Any:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) if is_yaml else json.load(f)


def _lookup(data: Any, keys: list[Any]) -> tuple[bool, Any]:
    """Walks nested keys; (False, None) where one is missing."""
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def check_json(result: str | None, rules: dict[str, Any], is_yaml: bool = False) -> float:
    """Expected keys hold values passing their rules (a missing one fails); unexpected ones do not."""
    if read_text(result) is None:
        return 0.0
    try:
        data = _load_structured(str(result), is_yaml)
    except (ValueError, OSError) as err:  # json and yaml parse errors are ValueError subclasses
        log.info("check_json: %s is not readable: %s", result, err)
        return 0.0
    for rule in rules.get("expect", []):
        found, value = _lookup(data, rule["key"])
        if not found or not match_value(value, rule):
            return 0.0
    for rule in rules.get("unexpect", []):
        if match_value(_lookup(data, rule["key"])[1], rule):
            return 0.0
    return 1.0


def _minutes_apart(a: str, b: str) -> float:
    fmt = "%H:%M"
    gap = abs((dt.datetime.strptime(a, fmt) - dt.datetime.strptime(b, fmt)).total_seconds()) / 60
    return min(gap, 24 * 60 - gap)


def compare_time_in_speedtest_results(result: str | None, time_diff: Any) -> float:
    """The first result's time (HH:MM ending the 2nd column of the 2nd line) is within `time_diff`
    minutes of now."""
    lines = (read_text(result) or "").splitlines()
    if len(lines) < 2 or len(lines[1].split(",")) < 2:
        return 0.0
    stamp = lines[1].split(",")[1][-5:]
    try:
        return float(_minutes_apart(stamp, dt.datetime.now().strftime("%H:%M")) < int(time_diff))
    except (TypeError, ValueError):
        return 0.0


_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d")


def check_line_number(result: str | None, rules: dict[str, Any]) -> float:
    """As many lines carry an HH:MM:SS time as expected (a report with one line per sample)."""
    text = read_text(result)
    if text is None:
        return 0.0
    count = sum(1 for line in text.splitlines() if _CLOCK.search(line))
    try:
        return float(count == int(rules["expected"]))
    except (TypeError, ValueError):
        return 0.0


def file_contains(result: str | None, rules: dict[str, Any]) -> float:
    """Every expected piece of text occurs somewhere in the file (a missing file scores 0)."""
    text = read_text(result)
    return float(text is not None and all(item in text for item in rules["expected"]))


def literal_match(result: Any, expected: Any, **options: Any) -> float:
    """Equal as text (`type` str) or item by item (`type` list); `ignore_case` folds case."""
    kind, fold = options.get("type", "str"), options.get("ignore_case", False)

    def text(value: Any) -> str:
        return str(value).lower() if fold else str(value)

    if kind == "str":
        return float(text(result) == text(expected))
    if kind == "list":
        if not isinstance(result, list | tuple) or not isinstance(expected, list | tuple):
            return 0.0
        return float([text(v) for v in result] == [text(v) for v in expected])
    raise Unsupported(f"metric:literal_match:type={kind}")


def _literal_gaps(options: dict[str, Any]) -> list[str]:
    kind = options.get("type", "str")
    return [] if kind in ("str", "list") else [f"type={kind}"]


def check_list(result: str | None, rules: dict[str, Any]) -> float:
    """Every `expect` regex matches some line and no `unexpect` regex matches any line."""
    text = read_text(result)
    if text is None:
        return 0.0
    lines = text.splitlines(keepends=True)
    expected = all(any(re.search(p, line) for line in lines) for p in rules.get("expect", []))
    unexpected = any(re.search(p, line) for p in rules.get("unexpect", []) for line in lines)
    return float(expected and not unexpected)


def fuzzy_place_math(result: str | None, rules: dict[str, Any]) -> float:
    """A document of exactly three words (places), each scored by its closest expected answer."""
    if result is None or not Path(result).is_file():
        return 0.0
    from docx import Document

    try:
        words = [w for p in Document(result).paragraphs for w in p.text.split()]
    except Exception:  # python-docx and zipfile raise their own types for a file that is not a document
        return 0.0
    if len(words) != 3:
        return 0.0
    return sum(max((fuzz.ratio(w, a) / 100 for a in rules["expected"]), default=0.0) for w in words) / 3


def compare_python_pure_text(result: str | None, expected: str | None) -> float:
    """Same source once every whitespace character is removed."""
    mine, theirs = read_text(result), read_text(expected)
    if mine is None or theirs is None:
        return 0.0
    return float("".join(mine.split()) == "".join(theirs.split()))


def check_csv(result: str | None, rules: dict[str, Any]) -> float:
    """Each `expect` pattern matches some row (by column name) and no `unexpect` pattern matches any."""
    text = read_text(result)
    if text is None:
        return 0.0
    return expected_records(list(csv.DictReader(text.splitlines())), rules)


def run_sqlite3(result: str | None, rules: dict[str, Any]) -> float:
    """The first column of the query's first row is the score (the query says what passing means)."""
    if result is None or not Path(result).is_file():
        return 0.0
    try:
        with sqlite3.connect(f"file:{result}?mode=ro", uri=True) as connection:
            row = connection.execute(rules["sql"]).fetchone()
    except sqlite3.Error as err:
        log.info("run_sqlite3: %s", err)
        return 0.0
    return float((row[0] if row else 0) or 0)


# --- accessibility tree ---


def _at_elements(tree: Any, rule: dict[str, Any]) -> list[Any]:
    if "xpath" in rule:
        return tree.xpath(rule["xpath"], namespaces=AT_NAMESPACES)
    if "selectors" in rule:
        selector = ", ".join(rule["selectors"])
        try:
            xpath = css_to_xpath(selector)
        except ValueError as err:
            raise Unsupported(f"metric:check_accessibility_tree:selector:{selector}") from err
        return tree.xpath(xpath, namespaces=AT_NAMESPACES)
    raise Unsupported("metric:check_accessibility_tree:rule without xpath or selectors")


def _text_score(elements: list[Any], rule: dict[str, Any]) -> float:
    if "text" not in rule:
        return 1.0
    if rule.get("exact", True):
        return float(any(rule["text"] == (e.text or None) for e in elements))
    return max(fuzz.ratio(rule["text"], e.text or "") / 100 for e in elements)


def check_accessibility_tree(result: str | None, rules: list[dict[str, Any]]) -> float:
    """Every rule selects some node (XPath or CSS) whose text, if given, matches; fuzzy scores multiply."""
    from lxml import etree

    if not result:
        return 0.0
    try:
        tree = etree.fromstring(result.encode())
    except etree.XMLSyntaxError:
        return 0.0
    score = 1.0
    for rule in rules:
        elements = _at_elements(tree, rule)
        if not elements:
            return 0.0
        score *= _text_score(elements, rule)
    return score


# --- basic_os.py ---


def is_in_vm_clickboard(rules: dict[str, Any], clipboard: str | None) -> float:
    """The clipboard text holds the expected text (every one of a list)."""
    if clipboard is None:
        return 0.0
    wanted = rules["expected"]
    items = wanted if isinstance(wanted, list) else [wanted]
    return float(all(item in clipboard for item in items))


def check_gnome_favorite_apps(result: str | None, rules: dict[str, Any]) -> float:
    """gsettings' favourite list holds exactly the expected apps, in any order."""
    text = (result or "").strip()
    if text.startswith("@as"):
        text = text[3:].strip()
    try:
        apps = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return 0.0
    expected = rules["expected"]
    return float(isinstance(apps, list) and len(apps) == len(expected) and set(apps) == set(expected))


def is_utc_0(result: str | None) -> float:
    """timedatectl's fourth line (Time zone) says offset +0000."""
    lines = (result or "").split("\n")
    return float(len(lines) > 3 and lines[3].endswith("+0000)"))


def check_text_enlarged(result: str | None) -> float:
    """gsettings' text-scaling-factor is above 1."""
    try:
        return float(float(str(result).strip()) > 1.0)
    except ValueError:
        return 0.0


# --- getters: info.py and misc.py ---


def vm_screen_size(ctx: GetterContext, config: dict[str, Any]) -> dict[str, int]:
    """The X screen's size (xwininfo on the root window), else the size every task computer is given."""
    shown = ctx.guest.run(["xwininfo", "-root"]).stdout
    width, height = re.search(r"Width:\s*(\d+)", shown), re.search(r"Height:\s*(\d+)", shown)
    if width and height:
        return {"width": int(width[1]), "height": int(height[1])}
    return {"width": GuestConfig().width, "height": GuestConfig().height}


_WINDOW_SCRIPT = r"""
for id in $(xprop -root _NET_CLIENT_LIST | sed 's/.*#//; s/,/ /g'); do
  class=$(xprop -id "$id" WM_CLASS 2>/dev/null | sed -n 's/^WM_CLASS([^)]*) = //p')
  echo "window $id $class"
  xwininfo -id "$id" 2>/dev/null | grep -E '^ *(Width|Height):'
done
"""
"""Each managed window's WM_CLASS and size, in the window manager's order (OSWorld's guest reads the same
list)."""


def _windows(listing: str) -> Iterator[tuple[list[str], dict[str, int]]]:
    classes: list[str] | None = None
    size: dict[str, int] = {}
    for line in listing.splitlines():
        if line.startswith("window "):
            if classes is not None:
                yield classes, size
            classes, size = re.findall(r'"([^"]*)"', line), {}
        elif m := re.match(r"\s*(Width|Height):\s*(\d+)", line):
            size[m[1].lower()] = int(m[2])
    if classes is not None:
        yield classes, size


def vm_window_size(ctx: GetterContext, config: dict[str, Any]) -> dict[str, int] | None:
    """The first window whose WM_CLASS (instance or class, any case) is `app_class_name`; None if none."""
    wanted = config["app_class_name"].lower()
    listing = ctx.guest.run(_WINDOW_SCRIPT, shell=True).stdout
    for classes, size in _windows(listing):
        if wanted in (c.lower() for c in classes) and len(size) == 2:
            return size
    return None


def vm_wallpaper(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """The picture GNOME's `picture-uri` names, copied out; None where it is unset or missing."""
    shown = ctx.guest.run(["gsettings", "get", "org.gnome.desktop.background", "picture-uri"])
    uri = shown.stdout.strip().replace("'", "")
    if shown.returncode != 0 or not uri:
        return None
    path = unquote(uri.removeprefix("file://"))
    return _copy(ctx, path, config.get("dest", PurePosixPath(path).name))


def time_diff_range(ctx: GetterContext, config: dict[str, Any]) -> Any:
    """The allowed gap in minutes, given in the task itself (OSWorld passes it on as a getter)."""
    return config.get("diff_range_in_minutes")


METRICS: dict[str, Metric] = {
    "check_json": check_json,
    "compare_time_in_speedtest_results": compare_time_in_speedtest_results,
    "check_line_number": check_line_number,
    "file_contains": file_contains,
    "check_accessibility_tree": check_accessibility_tree,
    "literal_match": literal_match,
    "check_list": check_list,
    "fuzzy_place_math": fuzzy_place_math,
    "compare_python_pure_text": compare_python_pure_text,
    "check_csv": check_csv,
    "run_sqlite3": run_sqlite3,
    "is_in_vm_clickboard": is_in_vm_clickboard,
    "check_gnome_favorite_apps": check_gnome_favorite_apps,
    "is_utc_0": is_utc_0,
    "check_text_enlarged": check_text_enlarged,
}
GETTERS: dict[str, Getter] = {
    "vm_screen_size": vm_screen_size,
    "vm_window_size": vm_window_size,
    "vm_wallpaper": vm_wallpaper,
    "time_diff_range": time_diff_range,
}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "literal_match": _literal_gaps,
}
"""Only options are checked here (a task's `expected` rules are not seen by the coverage check)."""
