"""compare_table's rules on cells: value rules (`{"method", "ref"}`), styles with conditional formats
applied, a sheet's printed and fuzzy-matched text, and its name."""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import MultiCellRange
from rapidfuzz import fuzz

from aios.evals.osworld.sheet_formulas import condition
from aios.evals.osworld.unsupported import Unsupported
from aios.evals.osworld.xlsx_books import Book, Check, pick, sheet_of

log = logging.getLogger(__name__)


def _printed(book: Book | None, name: str) -> list[str] | None:
    """The sheet as LibreOffice exported it next to the workbook (`<book>-<sheet>.csv`), lines stripped."""
    if book is None:
        return None
    path = Path(book.path).with_name(f"{Path(book.path).stem}-{name}.csv")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return None
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _sheet_print(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    first = _printed(*pick(rule["sheet_idx0"], mine, theirs))
    second = _printed(*pick(rule["sheet_idx1"], mine, theirs))
    if first is None or second is None:
        return False
    if rule.get("ignore_case", False):
        first, second = [s.lower() for s in first], [s.lower() for s in second]
    return first == second


def _sheet_name(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    return theirs is not None and mine.names == theirs.names


def _clean(text: str, how: dict[str, Any]) -> str:
    for old, new in how.get("normalization", []):
        text = text.replace(old, new)
    if "trim_leadings" in how:
        text = text.lstrip(how["trim_leadings"])
    if "trim_trailings" in how:
        text = text.rstrip(how["trim_trailings"])
    if "ignore_chars" in how:
        text = "".join(ch for ch in text if ch not in set(how["ignore_chars"]))
    return text.lower() if how.get("ignore_case", False) else text


FUZZY: dict[str, Callable[[str, str, dict[str, Any]], bool]] = {
    "includes": lambda a, b, how: b in a,
    "included_by": lambda a, b, how: a in b,
    "fuzzy_match": lambda a, b, how: fuzz.ratio(a, b) >= how.get("threshold", 85.0),
    "exact_match": lambda a, b, how: a == b,
}


def _raw_text(book: Book | None, sheet: str, coordinate: str) -> str:
    return str(book.xml.value(sheet, coordinate) if book is not None else None)


def _sheet_fuzzy(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    first, second = pick(rule["sheet_idx0"], mine, theirs), pick(rule["sheet_idx1"], mine, theirs)
    for how in rule["rules"]:
        match = FUZZY[how["type"]]
        for block in MultiCellRange(how["range"]):
            for row, col in block.cells:
                coordinate = f"{get_column_letter(col)}{row}"
                a, b = _raw_text(*first, coordinate), _raw_text(*second, coordinate)
                if not match(_clean(a, how), _clean(b, how), how):
                    log.debug("sheet_fuzzy %s: %r vs %r", coordinate, a, b)
                    return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Value rules ({"method": ..., "ref": ...}) and cell styles


def _regex(value: Any, method: str, ref: Any) -> bool:
    flags = reduce(operator.or_, (getattr(re, f) for f in method.split(".")[1:]), re.RegexFlag(0))
    return isinstance(value, str) and re.search(ref, value, flags) is not None


def _approx(value: Any, method: str, ref: Any) -> bool:
    try:
        return abs(float(value) - ref) <= float(method.split(":")[1])
    except (TypeError, ValueError):
        return False


def _within_ranges(value: Any, method: str, ref: Any) -> bool:
    """The ranges lie inside ref[1] and cover ref[0]."""
    inner, outer = MultiCellRange(ref[0]), MultiCellRange(ref[1])
    return all(r in value for r in inner.ranges) and all(r in outer for r in value.ranges)


def _between(value: Any, method: str, ref: Any) -> bool:
    """`range.<l><r>` with t (strict) or e (inclusive) at each end."""
    low, high = (getattr(operator, "l" + ch) for ch in method[6:8])
    return bool(low(ref[0], value) and high(value, ref[1]))


def _listed(value: Any, method: str, ref: Any) -> bool:
    kind = list if method == "str_list_eq" else set
    return isinstance(value, str) and kind(value.strip("\"'").split(",")) == kind(ref)


_COMPARISONS = ("eq", "ne", "le", "lt", "ge", "gt")


def rule_method(method: str) -> Callable[[Any, str, Any], bool] | None:
    """The comparison a rule's `method` names, or None where this module has none."""
    if method.startswith("re"):
        return _regex
    if method in _COMPARISONS:
        return lambda value, m, ref: bool(getattr(operator, m)(value, ref))
    if method.startswith("approx:"):
        return _approx
    if method == "spreadsheet_range":
        return _within_ranges
    if re.fullmatch(r"range\.[te][te]", method):
        return _between
    if method in ("str_list_eq", "str_set_eq"):
        return _listed
    return None


def matches(value: Any, rule: dict[str, Any]) -> bool:
    """Whether a value passes its rule; a method this module lacks is reported, never scored."""
    check = rule_method(rule["method"])
    if check is None:
        raise Unsupported(f"metric:compare_table:method:{rule['method']}")
    try:
        return check(value, rule["method"], rule["ref"])
    except TypeError:  # OSWorld raises here (e.g. None < 5); a value that cannot be compared does not match
        return False


def _font(attr: str) -> Callable[[Any, Any], Any]:
    def read(cell: Any, style: Any) -> Any:
        if cell.value is None:
            return None
        font = (style or cell).font
        return getattr(font.color, "rgb", None) if attr == "color" else getattr(font, attr)

    return read


def _fill(attr: str) -> Callable[[Any, Any], Any]:
    def read(cell: Any, style: Any) -> Any:
        fill = (style or cell).fill
        if attr == "tagname":
            return getattr(fill, "tagname", None)
        return getattr(getattr(fill, attr, None), "rgb", None)

    return read


def _number_format(cell: Any, style: Any) -> Any:
    if cell.value is None or cell.data_type != "n":
        return None
    return cell.number_format if style is None else style.numFmt.formatCode


STYLES: dict[str, Callable[[Any, Any], Any]] = {
    "number_format": _number_format,
    "font_name": _font("name"),
    "font_family": _font("family"),
    "font_color": _font("color"),
    "font_bold": _font("bold"),
    "font_italic": _font("italic"),
    "font_underline": _font("underline"),
    "font_size": _font("size"),
    "fill_type": _fill("tagname"),
    "bgcolor": _fill("bgColor"),
    "fgcolor": _fill("fgColor"),
    "hyperlink": lambda cell, style: (cell.hyperlink or "") if cell.value is not None else None,
}


def _style(name: str, cell: Any, style: Any = None) -> Any:
    """One style property of a cell, or of a conditional format's style when one applies to it."""
    reader = STYLES.get(name)
    if reader is None:
        raise Unsupported(f"metric:compare_table:style:{name}")
    try:
        return reader(cell, style)
    except AttributeError:
        return None


def _check_cell(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    book, name = pick(rule["sheet_idx"], mine, theirs)
    ws = sheet_of(book, name)
    if ws is None:
        return False
    coordinate = rule["coordinate"]
    for prop, how in rule["props"].items():
        value = book.xml.value(name, coordinate) if prop == "value" else _style(prop, ws[coordinate])  # type: ignore[union-attr]
        if not matches(value, how):
            log.debug("check_cell %s.%s = %r fails %r", coordinate, prop, value, how)
            return False
    return True


def _styles(book: Book | None, name: str, props: list[str]) -> dict[str, list[Any]]:
    """Every cell's styles, with conditional formats applied where their expression holds."""
    ws = sheet_of(book, name)
    if ws is None:
        return {}
    found = {c.coordinate: [_style(p, c) for p in props] for col in ws.iter_cols() for c in col}
    for formatting in ws.conditional_formatting:
        for cf in formatting.rules:
            if cf.type != "expression":
                raise Unsupported(f"metric:compare_table:style:conditional_format:{cf.type}")
            holds = condition(cf.formula[0])
            for block in formatting.cells:
                for row, col in block.cells:
                    cell = ws.cell(row=row, column=col)
                    if holds(book.xml.value(name, cell.coordinate)):  # type: ignore[union-attr]
                        found[cell.coordinate] = [_style(p, cell, cf.dxf) for p in props]
    return found


def _style_rule(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    props = rule.get("props", [])
    first = _styles(*pick(rule["sheet_idx0"], mine, theirs), props)
    return first == _styles(*pick(rule["sheet_idx1"], mine, theirs), props)


CELL_CHECKS: dict[str, Check] = {
    "sheet_name": _sheet_name,
    "sheet_print": _sheet_print,
    "sheet_fuzzy": _sheet_fuzzy,
    "style": _style_rule,
    "check_cell": _check_cell,
}
"""compare_table's rule type -> its check, for the rules this module implements."""
