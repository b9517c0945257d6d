"""OSWorld's metrics by name: each compares a getter's result with the expected value and gives 0..1."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aios.evals.osworld.unsupported import Unsupported

Metric = Callable[..., float]


def exact_match(result: Any, rules: dict[str, Any]) -> float:
    return float(result == rules["expected"])


def check_include_exclude(result: Any, rules: dict[str, Any]) -> float:
    if result is None:
        return 0.0
    text = str(result)
    included = all(item in text for item in rules.get("include", []))
    excluded = not any(item in text for item in rules.get("exclude", []))
    return float(included and excluded)


def match_in_list(result: Any, rules: dict[str, Any]) -> float:
    """The result is one of the expected values."""
    return float(result in rules["expected"])


def is_in_list(result: Any, rules: dict[str, Any]) -> float:
    """The expected value is one of the result's items."""
    return float(result is not None and rules["expected"] in result)


def check_direct_json_object(result: Any, rules: dict[str, Any], **options: Any) -> float:
    """Every expected key has the expected value (or, with `expect_in_result`, occurs in it)."""
    if isinstance(result, str):
        try:
            result = json.loads(result.strip())
        except json.JSONDecodeError:
            return 0.0
    if not isinstance(result, dict):
        return 0.0
    contained = rules.get("expect_in_result", options.get("expect_in_result", False))
    for key, expected in rules["expected"].items():
        value = result.get(key)
        if contained:
            if value is None or str(expected) not in str(value):
                return 0.0
        elif value != expected:
            return 0.0
    return 1.0


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
    """How alike two text files are (difflib's ratio): partial credit, as OSWorld gives."""
    mine, theirs = _text(result), _text(expected)
    if mine is None or theirs is None:
        return 0.0
    return difflib.SequenceMatcher(None, mine, theirs).ratio()


def is_expected_url_pattern_match(result: Any, rules: dict[str, Any]) -> float:
    """The URL (or active-tab info) matches every expected regular expression."""
    if result is None:
        return 0.0
    url = result["url"] if isinstance(result, dict) else str(result)
    return float(all(re.search(pattern, url) for pattern in rules["expected"]))


def is_expected_active_tab(result: Any, rules: dict[str, Any]) -> float:
    if result is None:
        return 0.0
    if rules.get("type", "url") != "url":
        raise Unsupported(f"metric:is_expected_active_tab:{rules.get('type')}")
    url = result["url"] if isinstance(result, dict) else str(result)
    return float(url == rules["url"])


def _names(tree: dict[str, Any]) -> set[str]:
    return {child["name"] for child in tree.get("children", []) if child["type"] == "file"}


def check_moved_jpgs(directory: dict[str, Any] | None, rules: dict[str, Any]) -> float:
    """The folder holds exactly the expected files (OSWorld's moved-files check, any extension)."""
    if directory is None:
        return 0.0
    return float(_names(directory) == set(rules["expected"]))


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
