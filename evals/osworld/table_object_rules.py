"""compare_table's rules on what a sheet holds besides cell values: its view (freeze, zoom), validations,
row and column properties, filters, charts, pivot tables and sparklines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openpyxl.utils import coordinate_to_tuple

from aios.evals.osworld.table_cell_rules import matches
from aios.evals.osworld.xlsx_books import Book, Check, pick, sheet_of

_X14 = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
_XM = "http://schemas.microsoft.com/office/excel/2006/main"


def _freeze(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    first, second = (
        sheet_of(*pick(rule["sheet_idx0"], mine, theirs)),
        sheet_of(*pick(rule["sheet_idx1"], mine, theirs)),
    )
    return first is not None and second is not None and first.freeze_panes == second.freeze_panes


def _zoom(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    ws = sheet_of(*pick(rule["sheet_idx"], mine, theirs))
    return ws is not None and matches(ws.sheet_view.zoomScale or 100.0, rule)


def _data_validation(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    """Every validation on the sheet fits one of the wanted ones, and there are at least as many."""
    ws = sheet_of(*pick(rule["sheet_idx"], mine, theirs))
    if ws is None:
        return False
    found, wanted = ws.data_validations.dataValidation, rule["dv_props"]

    def fits(dv: Any) -> bool:
        return any(all(matches(getattr(dv, attr), how) for attr, how in want.items()) for want in wanted)

    return len(found) >= len(wanted) and all(fits(dv) for dv in found)


def _dimensions(book: Book | None, name: str, kind: str, props: list[str]) -> dict[Any, dict[str, Any]]:
    ws = sheet_of(book, name)
    if ws is None:
        return {}
    held = ws.row_dimensions if kind == "row" else ws.column_dimensions
    return {key: {p: getattr(dim, p) for p in props} for key, dim in held.items()}


def _dimension_rule(kind: str) -> Check:
    def check(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
        props = list(set(rule.get("props", [])))
        first = _dimensions(*pick(rule["sheet_idx0"], mine, theirs), kind, props)
        return first == _dimensions(*pick(rule["sheet_idx1"], mine, theirs), kind, props)

    return check


def _filters(book: Book | None, name: str) -> dict[str, Any]:
    ws = sheet_of(book, name)
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


def _filter_rule(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    return _filters(*pick(rule["sheet_idx0"], mine, theirs)) == _filters(
        *pick(rule["sheet_idx1"], mine, theirs)
    )


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


def _charts(book: Book | None, name: str, props: set[str]) -> dict[str, Any]:
    """Charts keyed by their series' data and category ranges."""
    ws = sheet_of(book, name)
    if ws is None:
        return {}
    found = {}
    for chart in ws._charts:
        key = ";".join(f"{_ref(s.val)},{_ref(s.cat)}" for s in chart.series)
        found[key] = _chart_info(chart, props)
    return found


def _chart_rule(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    props = set(rule.get("chart_props", []))
    first = _charts(*pick(rule["sheet_idx0"], mine, theirs), props)
    return first == _charts(*pick(rule["sheet_idx1"], mine, theirs), props)


def _pivot_info(pivot: Any, props: set[str]) -> tuple[str, dict[str, Any]]:
    """A pivot table keyed by its source range (trimmed to the fields it uses), with the asked properties."""
    picks = [[(item.h, item.x) for item in f.items if item.x is not None] for f in pivot.pivotFields]
    left = next((i for i, p in enumerate(picks) if p), len(picks))
    right = next((i for i, p in enumerate(reversed(picks[left:])) if p), len(picks) - left)
    used = picks[left : len(picks) - right]
    source = pivot.cache.cacheSource
    start, end = source.worksheetSource.ref.split(":")
    (r0, c0), (r1, c1) = coordinate_to_tuple(start), coordinate_to_tuple(end)
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


def _pivots(book: Book | None, name: str, props: set[str]) -> dict[str, Any]:
    ws = sheet_of(book, name)
    return dict(_pivot_info(p, props) for p in ws._pivots) if ws is not None else {}


def _pivot_rule(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    props = set(rule.get("pivot_props", []))
    first = _pivots(*pick(rule["sheet_idx0"], mine, theirs), props)
    return first == _pivots(*pick(rule["sheet_idx1"], mine, theirs), props)


def _sparklines(book: Book | None, name: str) -> dict[str, str]:
    """Sparkline cell -> its data range, read from the sheet's x14 extension."""
    if book is None:
        return {}
    root = book.xml.sheet(name)
    if root is None:
        return {}
    found = {}
    for line in root.iter(f"{{{_X14}}}sparkline"):
        found[line.findtext(f"{{{_XM}}}sqref") or ""] = line.findtext(f"{{{_XM}}}f") or ""
    return found


def _sparkline_rule(rule: dict[str, Any], mine: Book, theirs: Book | None) -> bool:
    return _sparklines(*pick(rule["sheet_idx0"], mine, theirs)) == _sparklines(
        *pick(rule["sheet_idx1"], mine, theirs)
    )


OBJECT_CHECKS: dict[str, Check] = {
    "freeze": _freeze,
    "zoom": _zoom,
    "data_validation": _data_validation,
    "row_props": _dimension_rule("row"),
    "col_props": _dimension_rule("column"),
    "filter": _filter_rule,
    "chart": _chart_rule,
    "pivot_table": _pivot_rule,
    "sparkline": _sparkline_rule,
}
"""compare_table's rule type -> its check, for the rules this module implements."""
