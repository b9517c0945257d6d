"""OSWorld's Thunderbird metrics: preferences (prefs.js), message filters and mail folders."""

from __future__ import annotations

import json
import logging
import operator
import re
from typing import Any

from aios.evals.osworld.metrics import Metric, expected_records
from aios.evals.osworld.result_files import read_text
from aios.evals.osworld.unsupported import Unsupported

log = logging.getLogger(__name__)

_PREF = re.compile(r'user_pref\("(?P<key>(?:[^"]|\\")+)", (?P<value>.+)\);')


def _compare(value: Any, rule: dict[str, Any]) -> bool:
    """OSWorld's value rules: `re[.FLAG...]`, `eq`/`ne`/`lt`/`le`/`gt`/`ge`, `approx:T`, `range.XY`."""
    method, ref = str(rule["method"]), rule.get("ref")
    if method.startswith("re"):
        flags = 0
        for name in method.split(".")[1:]:
            flags |= getattr(re, name)
        return isinstance(value, str) and re.search(ref, value, flags) is not None
    if method in ("eq", "ne", "lt", "le", "gt", "ge"):
        try:
            return bool(getattr(operator, method)(value, ref))
        except TypeError:
            return False
    if method.startswith("approx:"):
        try:
            return abs(float(value) - ref) <= float(method.split(":")[1])
        except (TypeError, ValueError):
            return False
    if method.startswith("range.") and len(method) == 8:
        low, high = getattr(operator, "l" + method[6]), getattr(operator, "l" + method[7])
        return bool(low(ref[0], value) and high(value, ref[1]))
    if method == "spreadsheet_range":
        raise Unsupported("metric:check_thunderbird_prefs:spreadsheet_range")
    return False


def _prefs(text: str) -> list[tuple[str, Any]]:
    """prefs.js as (key, value) pairs in file order; a value that is not JSON is skipped."""
    found = []
    for line in text.splitlines():
        match = _PREF.fullmatch(line.strip())
        if match is None:
            continue
        try:
            found.append((match["key"], json.loads(match["value"])))
        except json.JSONDecodeError:
            log.debug("prefs.js value is not JSON: %s", line)
    return found


def check_thunderbird_prefs(prefs_path: str | None, rule: dict[str, Any]) -> float:
    """Each `expect` pref is present and (its last setting) matches; no `unexpect` pref setting matches."""
    text = read_text(prefs_path)
    if text is None:
        return 0.0
    expect, unexpect = rule.get("expect", {}), rule.get("unexpect", {})
    met = dict.fromkeys(expect, False)
    for key, value in _prefs(text):
        if key in expect:
            met[key] = _compare(value, expect[key])
        elif key in unexpect and _compare(value, unexpect[key]):
            return 0.0
    return float(all(met.values()))


_CONDITION = re.compile(r"\b(?:AND|OR) \([\w ]+,[\w ']+,(?:\".*?\"|[^)]+)\)|\bALL\b")
_FILTER_FIELDS = ("name", "enabled", "type", "action", "actionValue")


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _filters(text: str) -> list[dict[str, Any]]:
    """msgFilterRules.dat as filters; a filter is complete at its `condition` line."""
    filters: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in text.splitlines():
        field, sep, raw = line.partition("=")
        if not sep or not (raw.startswith('"') and raw.endswith('"') and len(raw) >= 2):
            continue
        value = _unescape(raw[1:-1])
        if field == "name":
            current = {"name": value}
        elif field in _FILTER_FIELDS:
            current[field] = value
        elif field == "condition":
            current["condition"] = _CONDITION.findall(value)
            filters.append(current)
    return filters


def check_thunderbird_filter(filters_path: str | None, rules: dict[str, Any]) -> float:
    """Every `expect` pattern matches some filter's fields; no `unexpect` pattern matches any filter."""
    text = read_text(filters_path)
    if text is None:
        return 0.0
    return expected_records(_filters(text), rules)


_MBOX_SEPARATOR = re.compile(r"^From [^\n]*\n", re.MULTILINE)


def _mail_folder(text: str, options: dict[str, Any]) -> list[str]:
    """The folder's messages (mbox separator lines dropped), normalised, sorted for an order-free compare."""
    messages = []
    for message in _MBOX_SEPARATOR.split(text.strip()):
        if not message.strip():
            continue
        if options.get("remove_deleted", True) and re.search(r"X-Mozilla-Status: 000[89]", message):
            continue
        if options.get("ignore_status"):
            message = re.sub(r"X-Mozilla-Status\d?:[\s\d]+", "", message)
        if options.get("ignore_keys"):
            message = re.sub(r"(X-Mozilla-Keys:[^\n]*?)\n(MIME-Version)", r"\2", message)
        messages.append(message.strip())
    if options.get("remove_duplicate", True):
        messages = list(set(messages))
    return sorted(messages)


def check_thunderbird_folder(result: str | list[str | None] | None, expected: Any, **options: Any) -> float:
    """Each mail folder (mbox file) holds the same messages as its reference, in any order."""
    pairs = zip(result, expected, strict=False) if isinstance(expected, list) else [(result, expected)]
    for mine, theirs in pairs:
        mine_text, theirs_text = read_text(mine), read_text(theirs)
        if mine_text is None or theirs_text is None:
            return 0.0
        if _mail_folder(mine_text, options) != _mail_folder(theirs_text, options):
            return 0.0
    return 1.0


METRICS: dict[str, Metric] = {
    "check_thunderbird_prefs": check_thunderbird_prefs,
    "check_thunderbird_filter": check_thunderbird_filter,
    "check_thunderbird_folder": check_thunderbird_folder,
}
