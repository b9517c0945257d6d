"""compare_table's `sheet_data` rule: a sheet as pandas.read_excel sees it (header row, column types, missing
values), compared as DataFrame.round(n).equals does, with openpyxl alone."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from aios.evals.osworld.xlsx_books import Book, pick, sheet_of

_NA_TEXT = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"}
    | {"N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+")
_TRUE, _FALSE = frozenset({"True", "TRUE", "true"}), frozenset({"False", "FALSE", "false"})
_NAN = float("nan")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _pandas_cell(cell: Any) -> Any:
    """What pandas' openpyxl reader makes of a cell: empty is "", an error NaN, 3.0 the int 3."""
    if cell.value is None:
        return ""
    if cell.data_type == "e":
        return _NAN
    if cell.data_type == "n" and isinstance(cell.value, float) and cell.value.is_integer():
        return int(cell.value)
    return cell.value


def _grid(ws: Any) -> list[list[Any]]:
    """Rows from A1, trailing empty cells and rows cut, then padded to one width (as pandas does)."""
    rows = []
    for row in ws.iter_rows():
        values = [_pandas_cell(c) for c in row]
        while values and values[-1] == "":
            values.pop()
        rows.append(values)
    while rows and not rows[-1]:
        rows.pop()
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


def _labels(header: list[Any]) -> list[Any]:
    """Column names: a blank header is "Unnamed: i", a repeated one gets ".1", ".2"..."""
    seen: dict[Any, int] = {}
    names = []
    for i, raw in enumerate(header):
        name = f"Unnamed: {i}" if raw == "" else raw
        count = seen.get(name, 0)
        while count:
            seen[name] = count + 1
            name = f"{name}.{count}"
            count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name)
    return names


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return int(value) if _INTEGER.fullmatch(value) else float(value)
    return None


def _typed(values: list[Any]) -> tuple[str, list[Any]]:
    """A column's pandas dtype family and values: int, float, bool, datetime, str or object."""
    vals = [_NAN if isinstance(v, str) and v in _NA_TEXT else v for v in values]
    present = [v for v in vals if not _is_nan(v)]
    if not vals:
        return "object", []
    if present and all(isinstance(v, dt.date) for v in present):
        return "datetime", [None if _is_nan(v) else _as_datetime(v) for v in vals]
    if len(present) == len(vals) and all(isinstance(v, bool) for v in vals):
        return "bool", vals
    numbers = [_as_number(v) for v in present]
    if all(n is not None for n in numbers):
        if len(present) < len(vals) or any(isinstance(n, float) for n in numbers):
            return "float", [_NAN if _is_nan(v) else float(_as_number(v)) for v in vals]  # type: ignore[arg-type]
        return "int", [int(n) for n in numbers]  # type: ignore[arg-type]
    if all(isinstance(v, bool) or v in _TRUE or v in _FALSE for v in present):
        flags = [v if _is_nan(v) or isinstance(v, bool) else v in _TRUE for v in vals]
        return ("bool" if len(present) == len(vals) else "object"), flags
    return ("str" if all(isinstance(v, str) for v in present) else "object"), vals


def _as_datetime(value: dt.date) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)


def _round(value: float, digits: int) -> float:
    """numpy's round: scale, round half to even, scale back."""
    if not math.isfinite(value):
        return value
    scale = 10.0**digits
    return round(value * scale) / scale


@dataclass
class _Frame:
    labels: list[Any]
    columns: list[tuple[str, list[Any]]]

    def rounded(self, digits: int) -> _Frame:
        cols = [(k, [_round(v, digits) for v in vs] if k == "float" else vs) for k, vs in self.columns]
        return _Frame(self.labels, cols)


def _frame(ws: Any) -> _Frame:
    rows = _grid(ws)
    if not rows:
        return _Frame([], [])
    body = rows[1:]
    return _Frame(_labels(rows[0]), [_typed([r[i] for r in body]) for i in range(len(rows[0]))])


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(x == y or (_is_nan(x) and _is_nan(y)) for x, y in zip(a, b, strict=True))


def _frames_equal(a: _Frame, b: _Frame) -> bool:
    if not _same(a.labels, b.labels) or len(a.columns) != len(b.columns):
        return False
    return all(ka == kb and _same(va, vb) for (ka, va), (kb, vb) in zip(a.columns, b.columns, strict=True))


def sheet_data(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    """Both sheets' values, rounded to `precision` digits, make equal frames."""
    first = sheet_of(*pick(rule["sheet_idx0"], mine, theirs), values=True)
    second = sheet_of(*pick(rule["sheet_idx1"], mine, theirs), values=True)
    if first is None or second is None:
        return False
    digits = int(rule.get("precision", 4))
    return _frames_equal(_frame(first).rounded(digits), _frame(second).rounded(digits))
