"""OSWorld's metrics by name: each compares a getter's result with the expected value and gives 0..1."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

Metric = Callable[..., float]


def exact_match(result: Any, rules: dict[str, Any]) -> float:
    return float(result == rules["expected"])


def check_include_exclude(result: Any, rules: dict[str, Any]) -> float:
    """Containment is Python's `in` on the result itself, so a list result matches whole items."""
    if result is None:
        return 0.0
    try:
        included = all(item in result for item in rules.get("include", []))
        excluded = not any(item in result for item in rules.get("exclude", []))
    except TypeError:
        return 0.0
    return float(included and excluded)


def match_in_list(result: Any, rules: dict[str, Any]) -> float:
    """The result is one of the expected values."""
    return float(result in rules["expected"])


def is_in_list(result: Any, rules: dict[str, Any]) -> float:
    """The expected value is one of the result's items."""
    return float(result is not None and rules["expected"] in result)


def _as_json(result: Any) -> Any:
    """Getters hand over text that may use single quotes (a Python repr), which OSWorld accepts too."""
    if not isinstance(result, str):
        return result
    try:
        return json.loads(result.strip().replace("'", '"'))
    except json.JSONDecodeError:
        return None


def _contains_expected(value: Any, expected: Any) -> bool:
    """A list of alternatives needs one of them in a list value; text needs to be a substring."""
    if isinstance(expected, list):
        return isinstance(value, list) and any(item in value for item in expected)
    if isinstance(expected, str):
        return isinstance(value, str | list | tuple | dict) and expected in value
    return False


def check_direct_json_object(result: Any, rules: dict[str, Any], **_: Any) -> float:
    """Every expected key has the expected value (with the rule `expect_in_result`: contains it)."""
    result = _as_json(result)
    if not isinstance(result, dict):
        return 0.0
    expected: dict[str, Any] = rules["expected"]
    if rules.get("expect_in_result", False):
        return float(all(_contains_expected(result.get(k), v) for k, v in expected.items()))
    return float(all(result.get(k) == v for k, v in expected.items()))


def _text(path: str | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return Path(path).read_text(errors="replace")


def compare_text_file(result: str | None, expected: str | None, **options: Any) -> float:
    """Same text; `ignore_blanks` squeezes whitespace, `ignore_case` folds case."""
    mine, theirs = _text(result), _text(expected)
    if mine is None or theirs is None:
        return 0.0
    if options.get("ignore_blanks"):
        mine, theirs = re.sub(r"\s+", " ", mine).strip(), re.sub(r"\s+", " ", theirs).strip()
    if options.get("ignore_case"):
        mine, theirs = mine.lower(), theirs.lower()
    return float(mine == theirs)


def diff_text_file(result: str | None, expected: str | None, **options: Any) -> float:
    """How alike two text files are, line by line (difflib's ratio): partial credit, as OSWorld gives."""
    mine, theirs = _text(result), _text(expected)
    if mine is None or theirs is None:
        return 0.0
    return difflib.SequenceMatcher(None, mine.splitlines(), theirs.splitlines()).ratio()


def is_expected_url_pattern_match(result: Any, rules: dict[str, Any]) -> float:
    """The URL (or active-tab info) matches every expected regular expression; no URL scores 0."""
    if not result:
        return 0.0
    url = result["url"] if isinstance(result, dict) else str(result)
    return float(all(re.search(pattern, url) for pattern in rules["expected"]))


def _normal_url(url: str) -> str:
    """Scheme defaults to http, host is lower-cased without `www.`, a lone `/` path is dropped."""
    parts = urlparse(url)
    return urlunparse(
        parts._replace(
            scheme=(parts.scheme or "http").lower(),
            netloc=parts.netloc.lower().replace("www.", ""),
            path="" if parts.path == "/" else parts.path,
        )
    )


def is_expected_active_tab(result: Any, rules: dict[str, Any]) -> float:
    """The active tab shows the expected URL, compared as OSWorld normalizes URLs; other rule types
    score 0 there too."""
    if not result or rules.get("type") != "url":
        return 0.0
    url = result.get("url") if isinstance(result, dict) else result
    if url is None:
        return 0.0
    return float(_normal_url(str(url)) == _normal_url(rules["url"]))


def check_moved_jpgs(directory: dict[str, Any] | None, rules: dict[str, Any]) -> float:
    """The folder holds exactly the expected entries, sub-folders included (OSWorld names them all)."""
    if directory is None:
        return 0.0
    names = [child["name"] for child in directory.get("children", [])]
    expected = rules["expected"]
    return float(len(names) == len(expected) and set(names) == set(expected))


def expected_records(records: list[dict[str, Any]], rules: dict[str, Any]) -> float:
    """Each `expect` pattern (field -> value) matches some record and no `unexpect` pattern matches any: the
    rule shape OSWorld's csv and Thunderbird-filter metrics share."""

    def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
        return all(key in record and record[key] == value for key, value in pattern.items())

    found = all(any(matches(p, r) for r in records) for p in rules.get("expect", []))
    clean = not any(matches(p, r) for p in rules.get("unexpect", []) for r in records)
    return float(found and clean)


def infeasible(*_: Any, **__: Any) -> float:
    """Scored by the runner from the agent's last action; reaching the metric means it did not FAIL."""
    return 0.0


METRICS: dict[str, Metric] = {
    "exact_match": exact_match,
    "check_include_exclude": check_include_exclude,
    "match_in_list": match_in_list,
    "is_in_list": is_in_list,
    "check_direct_json_object": check_direct_json_object,
    "compare_text_file": compare_text_file,
    "diff_text_file": diff_text_file,
    "is_expected_url_pattern_match": is_expected_url_pattern_match,
    "is_expected_active_tab": is_expected_active_tab,
    "check_moved_jpgs": check_moved_jpgs,
    "infeasible": infeasible,
}
