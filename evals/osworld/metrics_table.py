"""OSWorld's spreadsheet metrics (LibreOffice Calc): workbooks compared rule by rule, and csv files.

OSWorld reads sheet data through pandas; this module reproduces what pandas makes of a sheet (header row,
column types, missing values, rounding) with openpyxl alone, and reads the rest from the xlsx parts.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import operator
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import MultiCellRange
from rapidfuzz import fuzz

from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import HOME
from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.sheet_formulas import condition
from aios.evals.osworld.unsupported import Unsupported

log = logging.getLogger(__name__)

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_X14 = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
_XM = "http://schemas.microsoft.com/office/excel/2006/main"


def _first(path: Any) -> str | None:
    """Our vm_file/cloud_file give every file of a multi spec; OSWorld's metric gets the first one."""
    if isinstance(path, list | tuple):
        return path[0] if path else None
    return path


# ---------------------------------------------------------------------------------------------------------
# Workbooks and sheet indices


class _XmlCells:
    """Raw cell values from the xlsx XML, typed the way OSWorld's reader types them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._shared: list[str] | None = None
        self._sheets: dict[str, etree._Element | None] = {}

    def value(self, sheet: str, coordinate: str) -> Any:
        """Numbers as float, shared and formula strings as text, anything else (booleans too) None."""
        root = self._sheet(sheet)
        if root is None:
            return None
        cell = next(
            iter(root.iterfind(f"{{{_MAIN}}}sheetData/{{{_MAIN}}}row/{{{_MAIN}}}c[@r='{coordinate}']")), None
        )
        if cell is None:
            return None
        kind, raw = cell.get("t", "n"), cell.findtext(f"{{{_MAIN}}}v")
        if raw is None:
            return None
        try:
            if kind == "n":
                return float(raw)
            if kind == "s":
                return self._strings()[int(raw)]
        except (ValueError, IndexError):
            return None
        return raw if kind == "str" else None

    def _strings(self) -> list[str]:
        if self._shared is None:
            self._shared = []
            root = self._part("xl/sharedStrings.xml")
            if root is not None:
                items = root.iterfind(f"{{{_MAIN}}}si")
                self._shared = ["".join(t.text or "" for t in si.iter(f"{{{_MAIN}}}t")) for si in items]
        return self._shared

    def _sheet(self, name: str) -> etree._Element | None:
        if name not in self._sheets:
            part = _sheet_parts(self.path).get(name)
            self._sheets[name] = self._part(part) if part else None
        return self._sheets[name]

    def _part(self, name: str) -> etree._Element | None:
        try:
            with zipfile.ZipFile(self.path) as z:
                return etree.fromstring(z.read(name))
        except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
            return None


def _sheet_parts(path: str) -> dict[str, str]:
    """Sheet name -> its worksheet part, through the workbook's relationships."""
    try:
        with zipfile.ZipFile(path) as z:
            book = etree.fromstring(z.read("xl/workbook.xml"))
            rels = etree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return {}
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{{{_PKG_REL}}}Relationship")}
    parts = {}
    for sheet in book.iter(f"{{{_MAIN}}}sheet"):
        target = targets.get(sheet.get(f"{{{_REL}}}id"), "")
        parts[sheet.get("name", "")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return parts


@dataclass
class _Book:
    """One workbook, read three ways: as saved (styles, charts...), as values, and as raw XML."""

    path: str
    saved: Workbook
    xml: _XmlCells
    _values: Workbook | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str) -> _Book:
        return cls(path, load_workbook(path), _XmlCells(path))

    @property
    def names(self) -> list[str]:
        return self.saved.sheetnames

    def values(self) -> Workbook:
        if self._values is None:
            self._values = load_workbook(self.path, data_only=True)
        return self._values


def _pick(index: int | str, result: _Book, expected: _Book | None) -> tuple[_Book | None, str]:
    """OSWorld's sheet index: an int or "RI<n>" (result, by position), "RN<name>", "EI<n>", "EN<name>"."""
    if isinstance(index, int):
        book, how, key = result, "I", str(index)
    elif index[:2] in ("RI", "RN", "EI", "EN"):
        book, how, key = (result if index[0] == "R" else expected), index[1], index[2:]
    else:
        raise ValueError(f"unrecognised sheet index {index!r}")
    if how == "N":
        return book, key
    try:
        return book, book.names[int(key)] if book is not None else ""
    except (IndexError, ValueError):
        return book, ""


def _sheet(book: _Book | None, name: str, *, values: bool = False) -> Any:
    if book is None or name not in book.names:
        return None
    return (book.values() if values else book.saved)[name]


# ---------------------------------------------------------------------------------------------------------
# sheet_data: a sheet as pandas.read_excel sees it, compared as DataFrame.round(n).equals does

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


def _sheet_data(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    first = _sheet(*_pick(rule["sheet_idx0"], mine, theirs), values=True)
    second = _sheet(*_pick(rule["sheet_idx1"], mine, theirs), values=True)
    if first is None or second is None:
        return False
    digits = int(rule.get("precision", 4))
    return _frames_equal(_frame(first).rounded(digits), _frame(second).rounded(digits))


# ---------------------------------------------------------------------------------------------------------
# sheet_print, sheet_name, sheet_fuzzy


def _printed(book: _Book | None, name: str) -> list[str] | None:
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


def _sheet_print(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    first = _printed(*_pick(rule["sheet_idx0"], mine, theirs))
    second = _printed(*_pick(rule["sheet_idx1"], mine, theirs))
    if first is None or second is None:
        return False
    if rule.get("ignore_case", False):
        first, second = [s.lower() for s in first], [s.lower() for s in second]
    return first == second


def _sheet_name(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
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


_FUZZY: dict[str, Callable[[str, str, dict[str, Any]], bool]] = {
    "includes": lambda a, b, how: b in a,
    "included_by": lambda a, b, how: a in b,
    "fuzzy_match": lambda a, b, how: fuzz.ratio(a, b) >= how.get("threshold", 85.0),
    "exact_match": lambda a, b, how: a == b,
}


def _raw_text(book: _Book | None, sheet: str, coordinate: str) -> str:
    return str(book.xml.value(sheet, coordinate) if book is not None else None)


def _sheet_fuzzy(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    first, second = _pick(rule["sheet_idx0"], mine, theirs), _pick(rule["sheet_idx1"], mine, theirs)
    for how in rule["rules"]:
        match = _FUZZY[how["type"]]
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


def _rule_method(method: str) -> Callable[[Any, str, Any], bool] | None:
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


def _matches(value: Any, rule: dict[str, Any]) -> bool:
    check = _rule_method(rule["method"])
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


_STYLES: dict[str, Callable[[Any, Any], Any]] = {
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
    reader = _STYLES.get(name)
    if reader is None:
        raise Unsupported(f"metric:compare_table:style:{name}")
    try:
        return reader(cell, style)
    except AttributeError:
        return None


def _check_cell(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    book, name = _pick(rule["sheet_idx"], mine, theirs)
    ws = _sheet(book, name)
    if ws is None:
        return False
    coordinate = rule["coordinate"]
    for prop, how in rule["props"].items():
        value = book.xml.value(name, coordinate) if prop == "value" else _style(prop, ws[coordinate])  # type: ignore[union-attr]
        if not _matches(value, how):
            log.debug("check_cell %s.%s = %r fails %r", coordinate, prop, value, how)
            return False
    return True


def _styles(book: _Book | None, name: str, props: list[str]) -> dict[str, list[Any]]:
    """Every cell's styles, with conditional formats applied where their expression holds."""
    ws = _sheet(book, name)
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


def _style_rule(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    props = rule.get("props", [])
    first = _styles(*_pick(rule["sheet_idx0"], mine, theirs), props)
    return first == _styles(*_pick(rule["sheet_idx1"], mine, theirs), props)


# ---------------------------------------------------------------------------------------------------------
# Sheet properties: freeze, zoom, validation, rows/columns, filters


def _freeze(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    first, second = (
        _sheet(*_pick(rule["sheet_idx0"], mine, theirs)),
        _sheet(*_pick(rule["sheet_idx1"], mine, theirs)),
    )
    return first is not None and second is not None and first.freeze_panes == second.freeze_panes


def _zoom(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    ws = _sheet(*_pick(rule["sheet_idx"], mine, theirs))
    return ws is not None and _matches(ws.sheet_view.zoomScale or 100.0, rule)


def _data_validation(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    """Every validation on the sheet fits one of the wanted ones, and there are at least as many."""
    ws = _sheet(*_pick(rule["sheet_idx"], mine, theirs))
    if ws is None:
        return False
    found, wanted = ws.data_validations.dataValidation, rule["dv_props"]

    def fits(dv: Any) -> bool:
        return any(all(_matches(getattr(dv, attr), how) for attr, how in want.items()) for want in wanted)

    return len(found) >= len(wanted) and all(fits(dv) for dv in found)


def _dimensions(book: _Book | None, name: str, kind: str, props: list[str]) -> dict[Any, dict[str, Any]]:
    ws = _sheet(book, name)
    if ws is None:
        return {}
    held = ws.row_dimensions if kind == "row" else ws.column_dimensions
    return {key: {p: getattr(dim, p) for p in props} for key, dim in held.items()}


def _dimension_rule(kind: str) -> Callable[[dict[str, Any], _Book, _Book | None], bool]:
    def check(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
        props = list(set(rule.get("props", [])))
        first = _dimensions(*_pick(rule["sheet_idx0"], mine, theirs), kind, props)
        return first == _dimensions(*_pick(rule["sheet_idx1"], mine, theirs), kind, props)

    return check


def _filters(book: _Book | None, name: str) -> dict[str, Any]:
    ws = _sheet(book, name)
    if ws is None:
        return {}
    auto = ws.auto_filter
    columns = sorted((_filter_column(c) for c in auto.filterColumn), key=lambda c: c["col_id"])
    found: dict[str, Any] = {"ref": auto.ref, "filter_column": columns}
    if auto.sortState is not None:
        found["sort_state"] = _sort_state(auto.sortState)
    return found


def _filter_column(column: Any) -> dict[str, Any]:
    found = {"col_id": column.colId, "hidden_button": column.hiddenButton, "show_button": column.showButton}
    if column.filters is not None:
        found |= {"filters_blank": column.filters.blank, "filters": set(column.filters.filter)}
    if column.customFilters is not None:
        custom = column.customFilters
        found |= {
            "custom_filters_op": custom._and,
            "custom_filters": {(f.operator, f.val) for f in custom.customFilter},
        }
    return found


def _sort_state(state: Any) -> dict[str, Any]:
    keys = ("descending", "sortBy", "ref", "customList", "dxfId", "iconSet", "iconId")
    conditions = [{k: getattr(c, k) for k in keys} for c in state.sortCondition]
    return {
        "sort": state.columnSort,
        "case": state.caseSensitive,
        "method": state.sortMethod,
        "ref": state.ref,
        "condition": conditions,
    }


def _filter_rule(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    return _filters(*_pick(rule["sheet_idx0"], mine, theirs)) == _filters(
        *_pick(rule["sheet_idx1"], mine, theirs)
    )


# ---------------------------------------------------------------------------------------------------------
# Charts, pivot tables, sparklines


def _rich_text(title: Any) -> str | None:
    try:
        return title.tx.rich.p[0].r[0].t
    except (AttributeError, IndexError, TypeError):
        return None


def _ref(data: Any) -> str:
    for kind in ("numRef", "strRef"):
        formula = getattr(getattr(data, kind, None), "f", None)
        if formula is not None:
            return formula
    return ""


def _chart_info(chart: Any, props: set[str]) -> dict[str, Any]:
    readers: dict[str, Callable[[], Any]] = {
        "title": lambda: _rich_text(chart.title),
        "legend": lambda: chart.legend.position if chart.legend is not None else None,
        "anchor": lambda: [
            chart.anchor.editAs,
            chart.anchor._from.col,
            chart.anchor.to.row,  # OSWorld records the end row where the start row belongs; kept for parity
            chart.anchor.to.col,
            chart.anchor.to.row,
        ],
        "width": lambda: chart.width,
        "height": lambda: chart.height,
        "type": lambda: chart.tagname,
        "direction": lambda: getattr(chart, "barDir", None),
        "xtitle": lambda: _rich_text(getattr(chart.x_axis, "title", None)),
        "ytitle": lambda: _rich_text(getattr(chart.y_axis, "title", None)),
        "ztitle": lambda: _rich_text(getattr(getattr(chart, "z_axis", None), "title", None)),
    }
    return {name: read() for name, read in readers.items() if name in props}


def _charts(book: _Book | None, name: str, props: set[str]) -> dict[str, Any]:
    """Charts keyed by their series' data and category ranges."""
    ws = _sheet(book, name)
    if ws is None:
        return {}
    found = {}
    for chart in ws._charts:
        key = ";".join(f"{_ref(s.val)},{_ref(s.cat)}" for s in chart.series)
        found[key] = _chart_info(chart, props)
    return found


def _chart_rule(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    props = set(rule.get("chart_props", []))
    first = _charts(*_pick(rule["sheet_idx0"], mine, theirs), props)
    return first == _charts(*_pick(rule["sheet_idx1"], mine, theirs), props)


def _pivot_info(pivot: Any, props: set[str]) -> tuple[str, dict[str, Any]]:
    """A pivot table keyed by its source range (trimmed to the fields it uses), with the asked properties."""
    picks = [[(item.h, item.x) for item in f.items if item.x is not None] for f in pivot.pivotFields]
    left = next((i for i, p in enumerate(picks) if p), len(picks))
    right = next((i for i, p in enumerate(reversed(picks[left:])) if p), len(picks) - left)
    used = picks[left : len(picks) - right]
    source = pivot.cache.cacheSource
    start, end = source.worksheetSource.ref.split(":")
    (r0, c0), (r1, c1) = _cell_tuple(start), _cell_tuple(end)
    key = f"{source.type};{(r0, c0 + left)}:{(r1, c1 - right)};{source.worksheetSource.sheet}"
    info: dict[str, Any] = {}
    simple = {"name": "name", "show_total": "visualTotals", "show_empty_row": "showEmptyRow"}
    simple |= {"show_empty_col": "showEmptyCol", "show_headers": "showHeaders", "location": "location"}
    info |= {prop: getattr(pivot, attr) for prop, attr in simple.items() if prop in props}
    if props & {"filter", "selection"}:
        info["selection"] = used if "ordered" in props else [set(p) for p in used]
    if "filter" in props:
        info["filter_fields"] = {f.fld for f in pivot.pageFields}
    if "col_fields" in props:
        info["col_fields"] = [f.x - left for f in pivot.colFields]
    if "row_fields" in props:
        info["row_fields"] = [f.x - left for f in pivot.rowFields]
    if "data_fields" in props:
        named = "data_fields_name" in props
        info["data_fields"] = [
            f"{f.fld - left};{f.name if named else ''};{f.subtotal};{f.showDataAs}" for f in pivot.dataFields
        ]
    return key, info


def _cell_tuple(coordinate: str) -> tuple[int, int]:
    from openpyxl.utils import coordinate_to_tuple

    return coordinate_to_tuple(coordinate)


def _pivots(book: _Book | None, name: str, props: set[str]) -> dict[str, Any]:
    ws = _sheet(book, name)
    return dict(_pivot_info(p, props) for p in ws._pivots) if ws is not None else {}


def _pivot_rule(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    props = set(rule.get("pivot_props", []))
    first = _pivots(*_pick(rule["sheet_idx0"], mine, theirs), props)
    return first == _pivots(*_pick(rule["sheet_idx1"], mine, theirs), props)


def _sparklines(book: _Book | None, name: str) -> dict[str, str]:
    """Sparkline cell -> its data range, read from the sheet's x14 extension."""
    if book is None:
        return {}
    root = book.xml._sheet(name)
    if root is None:
        return {}
    found = {}
    for line in root.iter(f"{{{_X14}}}sparkline"):
        found[line.findtext(f"{{{_XM}}}sqref") or ""] = line.findtext(f"{{{_XM}}}f") or ""
    return found


def _sparkline_rule(rule: dict[str, Any], mine: _Book, theirs: _Book | None) -> bool:
    return _sparklines(*_pick(rule["sheet_idx0"], mine, theirs)) == _sparklines(
        *_pick(rule["sheet_idx1"], mine, theirs)
    )


# ---------------------------------------------------------------------------------------------------------
# compare_table

_Check = Callable[[dict[str, Any], _Book, "_Book | None"], bool]
_CHECKS: dict[str, _Check] = {
    "sheet_name": _sheet_name,
    "sheet_data": _sheet_data,
    "sheet_print": _sheet_print,
    "sheet_fuzzy": _sheet_fuzzy,
    "sparkline": _sparkline_rule,
    "chart": _chart_rule,
    "style": _style_rule,
    "freeze": _freeze,
    "zoom": _zoom,
    "data_validation": _data_validation,
    "row_props": _dimension_rule("row"),
    "col_props": _dimension_rule("column"),
    "filter": _filter_rule,
    "pivot_table": _pivot_rule,
    "check_cell": _check_cell,
}


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
        mine = _Book.open(path)
    except Exception:  # openpyxl and zipfile raise their own types for a file that is not a workbook
        log.info("compare_table: %s is not a readable workbook", path)
        return 0.0
    theirs = _Book.open(_first(expected)) if expected is not None else None  # type: ignore[arg-type]
    for rule in rules:
        if not _CHECKS[rule["type"]](rule, mine, theirs):
            log.info("compare_table: rule %s failed", rule)
            return 0.0
    return 1.0


def _table_gaps(options: dict[str, Any]) -> list[str]:
    """Rule types, value-rule methods, style names and fuzzy match kinds this module does not know."""
    gaps = []
    for rule in options.get("rules", []):
        kind = rule.get("type")
        if kind not in _CHECKS:
            gaps.append(str(kind))
            continue
        gaps += [f"{kind}:{p}" for p in rule.get("props", []) if kind == "style" and p not in _STYLES]
        gaps += [f"{kind}:{m}" for m in _methods(rule) if _rule_method(m) is None]
        if kind == "check_cell":
            gaps += [f"{kind}:{p}" for p in rule.get("props", {}) if p != "value" and p not in _STYLES]
        if kind == "sheet_fuzzy":
            gaps += [f"{kind}:{r.get('type')}" for r in rule.get("rules", []) if r.get("type") not in _FUZZY]
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
