"""OSWorld's spreadsheet metrics (LibreOffice Calc): workbooks compared rule by rule, and csv files.

OSWorld reads sheet data through pandas; the rule modules reproduce what pandas makes of a sheet with openpyxl
alone, and read the rest from the xlsx parts.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path, PurePosixPath
from typing import Any

from openpyxl import load_workbook

from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import HOME
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.table_cell_rules import CELL_CHECKS, FUZZY, STYLES, rule_method
from aios.evals.osworld.table_frames import sheet_data
from aios.evals.osworld.table_object_rules import OBJECT_CHECKS
from aios.evals.osworld.unsupported import Unsupported
from aios.evals.osworld.xlsx_books import Book, Check

log = logging.getLogger(__name__)


def _first(path: Any) -> str | None:
    """Our vm_file/cloud_file give every file of a multi spec; OSWorld's metric gets the first one."""
    if isinstance(path, list | tuple):
        return path[0] if path else None
    return path


_CHECKS: dict[str, Check] = {**CELL_CHECKS, "sheet_data": sheet_data, **OBJECT_CHECKS}


def compare_table(result: Any, expected: Any = None, **options: Any) -> float:
    """1 when every rule in `rules` holds, checked in order; a missing or unreadable result scores 0."""
    path = _first(result)
    if path is None or not Path(path).is_file():
        return 0.0
    rules = options.get("rules")
    if rules is None:
        return _whole_tables(path, _first(expected))
    for gap in _table_gaps(options):
        raise Unsupported(f"metric:compare_table:{gap}")
    try:
        mine = Book.open(path)
    except Exception:  # openpyxl and zipfile raise their own types for a file that is not a workbook
        log.info("compare_table: %s is not a readable workbook", path)
        return 0.0
    theirs = Book.open(_first(expected)) if expected is not None else None  # type: ignore[arg-type]
    for rule in rules:
        if not _CHECKS[rule["type"]](rule, mine, theirs):
            log.info("compare_table: rule %s failed", rule)
            return 0.0
    return 1.0


def _table_gaps(options: dict[str, Any]) -> list[str]:
    """Rule types, value-rule methods, style names and fuzzy match kinds the rule modules do not know."""
    gaps = []
    for rule in options.get("rules", []):
        kind = rule.get("type")
        if kind not in _CHECKS:
            gaps.append(str(kind))
            continue
        gaps += [f"{kind}:{p}" for p in rule.get("props", []) if kind == "style" and p not in STYLES]
        gaps += [f"{kind}:{m}" for m in _methods(rule) if rule_method(m) is None]
        if kind == "check_cell":
            gaps += [f"{kind}:{p}" for p in rule.get("props", {}) if p != "value" and p not in STYLES]
        if kind == "sheet_fuzzy":
            gaps += [f"{kind}:{r.get('type')}" for r in rule.get("rules", []) if r.get("type") not in FUZZY]
    return gaps


def _methods(rule: dict[str, Any]) -> list[str]:
    kind = rule.get("type")
    if kind == "zoom":
        return [rule.get("method", "")]
    if kind == "check_cell":
        return [how.get("method", "") for how in rule.get("props", {}).values()]
    if kind == "data_validation":
        return [how.get("method", "") for want in rule.get("dv_props", []) for how in want.values()]
    return []


# ---------------------------------------------------------------------------------------------------------
# Without rules (not an OSWorld call: its metric needs them): every sheet's values, csv allowed


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
    book = load_workbook(path, data_only=True, read_only=True)
    try:
        return {
            ws.title: _trim([[cell(v) for v in row] for row in ws.iter_rows(values_only=True)]) for ws in book
        }
    finally:
        book.close()


def _trim(rows: list[list[str]]) -> list[list[str]]:
    rows = [list(row) for row in rows]
    for row in rows:
        while row and row[-1] == "":
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _whole_tables(result: str, expected: str | None) -> float:
    if expected is None:
        return 0.0
    try:
        mine, theirs = _table(result), _table(expected)
    except Exception:  # openpyxl and zipfile raise their own types for a file that is not a workbook
        return 0.0
    if result.endswith(".csv") or expected.endswith(".csv"):
        return float(list(mine.values()) == list(theirs.values()))  # a csv has one sheet and no name
    return float(mine == theirs)


# ---------------------------------------------------------------------------------------------------------
# compare_csv, conference cities


def _lines(path: str, options: dict[str, Any]) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    if not options.get("strict", True):
        lines = [line.strip() for line in lines]
    return [line.lower() for line in lines] if options.get("ignore_case", False) else lines


def compare_csv(result: str | None, expected: str, **options: Any) -> float:
    """Line-for-line equal text; `strict: false` ignores edge whitespace, `ignore_case` case."""
    if result is None or not Path(result).is_file():
        return 0.0
    return float(_lines(result, options) == _lines(expected, options))


def compare_conference_city_in_order(result: str | None, expected: dict[str, Any], **options: Any) -> float:
    """C2:C22 of the active sheet name each expected city (or one of its spellings), in order."""
    if result is None or not Path(result).is_file():
        return 0.0
    try:
        ws = load_workbook(result).active
        cities = [row[0].value for row in ws["C2:C22"]]  # type: ignore[index]
    except Exception:  # openpyxl and zipfile raise their own types for a file that is not a workbook
        return 0.0
    wanted = expected["expected"]
    if len(wanted) < len(cities):
        return 0.0
    for city, want in zip(cities, wanted, strict=False):
        names = [want] if isinstance(want, str) else want
        if not isinstance(city, str) or not any(name in city for name in names):
            log.info("conference city %r is not %r", city, want)
            return 0.0
    return 1.0


def conference_city_in_order(ctx: GetterContext, config: dict[str, Any]) -> list[str] | None:
    """The third column of a csv in the task computer, header skipped."""
    path = config["csv_path"]
    data = ctx.guest.read_file(path if path.startswith("/") else str(PurePosixPath(HOME) / path))
    if data is None:
        return None
    rows = list(csv.reader(data.decode("utf-8", errors="replace").splitlines()))
    return [row[2] for row in rows[1:]]


METRICS: dict[str, Metric] = {
    "compare_table": compare_table,
    "compare_csv": compare_csv,
    "compare_conference_city_in_order": compare_conference_city_in_order,
}
GETTERS = {"conference_city_in_order": conference_city_in_order}
OPTION_GAPS = {"compare_table": _table_gaps}
