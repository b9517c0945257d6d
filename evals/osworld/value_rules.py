"""OSWorld's value rules (`{"method": ..., "ref": ...}`), as its JSON, YAML and mp3 tag metrics apply them."""

from __future__ import annotations

import functools
import operator
import re
from typing import Any

from aios.evals.osworld.unsupported import Unsupported

_COMPARISONS = {"eq", "ne", "le", "lt", "ge", "gt"}


def _regex_flags(method: str) -> re.RegexFlag:
    """`re.I.M` style methods name flags after the first dot."""
    names = method.split(".")[1:]
    return functools.reduce(operator.or_, (getattr(re, n) for n in names), re.RegexFlag(0))


def _approx(value: Any, method: str, ref: float) -> bool:
    try:
        return abs(float(value) - ref) <= float(method.split(":")[1])
    except (TypeError, ValueError):
        return False


def _in_range(value: Any, method: str, ref: list[Any]) -> bool:
    """`range.xy` bounds: each of x, y is `e` (inclusive) or `t` (exclusive)."""
    low = operator.le if method[6] == "e" else operator.lt
    high = operator.le if method[7] == "e" else operator.lt
    return low(ref[0], value) and high(value, ref[1])


def _cell_ranges_within(value: Any, ref: list[str]) -> bool:
    from openpyxl.worksheet.cell_range import MultiCellRange

    inner, outer = MultiCellRange(ref[0]), MultiCellRange(ref[1])
    return all(r in value for r in inner) and all(r in outer for r in value)


def match_value(value: Any, rule: dict[str, Any]) -> bool:
    """Whether a value passes an OSWorld `{method, ref}` rule."""
    method, ref = rule["method"], rule.get("ref")
    if method.startswith("re"):
        return isinstance(value, str) and re.search(ref, value, _regex_flags(method)) is not None
    if method in _COMPARISONS:
        return bool(getattr(operator, method)(value, ref))
    if method.startswith("approx"):
        return _approx(value, method, ref)
    if method == "spreadsheet_range":
        return _cell_ranges_within(value, ref)
    if method.startswith("range."):
        return _in_range(value, method, ref)
    if method in ("str_list_eq", "str_set_eq"):
        kind = list if method == "str_list_eq" else set
        return kind(str(value).strip("\"'").split(",")) == kind(ref)
    raise Unsupported(f"metric:rule-method:{method}")
