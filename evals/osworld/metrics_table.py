"""OSWorld's spreadsheet metrics (LibreOffice Calc): workbooks and csv files, compared as OSWorld does."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.unsupported import Unsupported


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


def _table_gaps(options: dict[str, Any]) -> list[str]:
    return [str(rule.get("type")) for rule in options.get("rules", []) if rule.get("type") != "sheet_data"]


METRICS: dict[str, Metric] = {"compare_table": compare_table}
OPTION_GAPS = {"compare_table": _table_gaps}
