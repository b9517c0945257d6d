"""OSWorld's metrics by name: each compares a getter's result with the expected value and gives 0..1."""

from __future__ import annotations

import csv
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


def _table(path: str) -> dict[str, list[list[str]]]:
    """Sheets of a csv or xlsx file as rows of text (numbers compared as written by Excel: 3.0 is 3)."""

    def cell(value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return "" if value is None else str(value).strip()

    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = [[cell(v) for v in row] for row in csv.reader(f)]
        return {"Sheet1": _trim(rows)}
    from openpyxl import load_workbook

    book = load_workbook(path, data_only=True, read_only=True)
    return {
        ws.title: _trim([[cell(v) for v in row] for row in ws.iter_rows(values_only=True)]) for ws in book
    }


def _trim(rows: list[list[str]]) -> list[list[str]]:
    rows = [list(row) for row in rows]
    for row in rows:
        while row and row[-1] == "":
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def compare_table(result: str | None, expected: str | None = None, **options: Any) -> float:
    """Same values in every sheet. OSWorld's per-check `rules` are supported for `sheet_data` only."""
    if result is None or not Path(result).is_file():
        return 0.0
    for check in options.get("rules", []):
        if check.get("type") != "sheet_data":
            raise Unsupported(f"metric:compare_table:{check.get('type')}")
    if expected is None:
        return 0.0
    try:
        mine, theirs = _table(result), _table(expected)
    except Exception:  # openpyxl and zipfile raise their own types for a file that is not a workbook
        return 0.0
    if result.endswith(".csv") or expected.endswith(".csv"):
        return float(list(mine.values()) == list(theirs.values()))  # a csv has one sheet and no name
    return float(mine == theirs)


def compare_docx_files(result: str | None, expected: str | None, **options: Any) -> float:
    """Same paragraphs; `ignore_blanks`, `ignore_case` and `ignore_order` loosen the comparison."""
    if result is None or expected is None or not Path(result).is_file():
        return 0.0
    from docx import Document

    try:
        mine = [p.text for p in Document(result).paragraphs]
        theirs = [p.text for p in Document(expected).paragraphs]
    except Exception:  # python-docx and zipfile raise their own types for a file that is not a document
        return 0.0
    if options.get("ignore_blanks", True):
        mine = [re.sub(r"\s+", " ", t).strip() for t in mine if t.strip()]
        theirs = [re.sub(r"\s+", " ", t).strip() for t in theirs if t.strip()]
    if options.get("ignore_case"):
        mine, theirs = [t.lower() for t in mine], [t.lower() for t in theirs]
    if options.get("ignore_order"):
        mine, theirs = sorted(mine), sorted(theirs)
    return float(mine == theirs)


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
    "compare_table": compare_table,
    "compare_docx_files": compare_docx_files,
    "check_moved_jpgs": check_moved_jpgs,
    "infeasible": infeasible,
}


def metric(name: str) -> Metric:
    found = METRICS.get(name)
    if found is None:
        raise Unsupported(f"metric:{name}")
    return found
