from __future__ import annotations

import re
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.pivot.cache import CacheDefinition, CacheField, CacheSource, SharedItems, WorksheetSource
from openpyxl.pivot.record import RecordList
from openpyxl.pivot.table import DataField, FieldItem, Location, PivotField, RowColField, TableDefinition
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from aios.evals.osworld import metrics_table as mt
from aios.evals.osworld.sheet_formulas import condition
from aios.evals.osworld.unsupported import Unsupported

BASE = [["Name", "Score", "Ratio"], ["ann", 3, 0.123456], ["bob", 4, 0.5]]
SD = {"type": "sheet_data", "sheet_idx0": 0, "sheet_idx1": "EI0"}


def _book(path: Path, rows: list[list[Any]], edit: Any = None, title: str = "Sheet1") -> str:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(row)
    if edit is not None:
        edit(wb, ws)
    wb.save(path)
    return str(path)


def _shared_strings(path: str) -> str:
    """Rewrite openpyxl's inline strings as shared strings, the way LibreOffice saves text."""
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    strings: list[str] = []

    def share(m: re.Match[str]) -> str:
        strings.append(m[2])
        return f'{m[1]} t="s"><v>{len(strings) - 1}</v></c>'

    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = re.sub(
        r'(<c r="\w+"(?: s="\d+")?) t="inlineStr"><is><t>([^<]*)</t></is></c>', share, sheet
    ).encode()
    items = "".join(f"<si><t>{s}</t></si>" for s in strings)
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    parts["xl/sharedStrings.xml"] = f'<sst xmlns="{ns}" count="{len(strings)}">{items}</sst>'.encode()
    kind = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
    rel = f'<Relationship Id="rIdSst" Type="{kind}" Target="sharedStrings.xml"/></Relationships>'
    rels = parts["xl/_rels/workbook.xml.rels"].decode()
    parts["xl/_rels/workbook.xml.rels"] = rels.replace("</Relationships>", rel).encode()
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{mime}"/></Types>'
    parts["[Content_Types].xml"] = (
        parts["[Content_Types].xml"].decode().replace("</Types>", override).encode()
    )
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def _rules(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"rules": list(rules)}


def test_sheet_data_compares_values_as_pandas_would(tmp_path: Path) -> None:
    base = _book(tmp_path / "a.xlsx", BASE)
    close = _book(
        tmp_path / "b.xlsx", [["Name", "Score", "Ratio"], ["ann", 3.0, 0.12345649], ["bob", "4", 0.5]]
    )
    off = _book(tmp_path / "c.xlsx", [["Name", "Score", "Ratio"], ["ann", 3, 0.1239], ["bob", 4, 0.5]])
    assert mt.compare_table(base, close, **_rules(SD)) == 1.0
    assert mt.compare_table(base, off, **_rules(SD)) == 0.0
    assert mt.compare_table(base, off, **_rules(dict(SD, precision=2))) == 1.0
    named = {"type": "sheet_data", "sheet_idx0": "RNSheet1", "sheet_idx1": "ENSheet1"}
    assert mt.compare_table(base, close, **_rules(named)) == 1.0
    missing = {"type": "sheet_data", "sheet_idx0": "RNNope", "sheet_idx1": "EI0"}
    assert mt.compare_table(base, close, **_rules(missing)) == 0.0


def test_sheet_data_types_matter(tmp_path: Path) -> None:
    flags = _book(tmp_path / "a.xlsx", [["k"], [True], [True]])
    ones = _book(tmp_path / "b.xlsx", [["k"], [1], [1]])
    assert mt.compare_table(flags, flags, **_rules(SD)) == 1.0
    assert mt.compare_table(flags, ones, **_rules(SD)) == 0.0


def test_missing_or_broken_result_scores_zero(tmp_path: Path) -> None:
    good = _book(tmp_path / "a.xlsx", BASE)
    broken = tmp_path / "bad.xlsx"
    broken.write_text("not a workbook")
    assert mt.compare_table(None, good, **_rules(SD)) == 0.0
    assert mt.compare_table(str(broken), good, **_rules(SD)) == 0.0
    assert mt.compare_table(str(tmp_path / "gone.xlsx"), good, **_rules(SD)) == 0.0


def test_unknown_rules_are_gaps(tmp_path: Path) -> None:
    good = _book(tmp_path / "a.xlsx", BASE)
    assert mt._table_gaps(_rules(SD, {"type": "sheet_name"})) == []
    assert mt._table_gaps(_rules({"type": "pie"}, {"type": "style", "props": ["border"]})) == [
        "pie",
        "style:border",
    ]
    with pytest.raises(Unsupported, match="compare_table:pie"):
        mt.compare_table(good, good, **_rules({"type": "pie"}))


def test_sheet_name(tmp_path: Path) -> None:
    one = _book(tmp_path / "a.xlsx", BASE, edit=lambda wb, ws: wb.create_sheet("Other"))
    two = _book(tmp_path / "b.xlsx", BASE, edit=lambda wb, ws: wb.create_sheet("Other", 0))
    assert mt.compare_table(one, one, **_rules({"type": "sheet_name"})) == 1.0
    assert mt.compare_table(one, two, **_rules({"type": "sheet_name"})) == 0.0


def test_sheet_print_reads_exported_csv(tmp_path: Path) -> None:
    mine, gold = _book(tmp_path / "r.xlsx", BASE), _book(tmp_path / "g.xlsx", BASE)
    (tmp_path / "r-Sheet1.csv").write_text("Name,Score\nann,3.00\n\n")
    (tmp_path / "g-Sheet1.csv").write_text("NAME,Score\n  ANN,3.00 \n")
    rule = {"type": "sheet_print", "sheet_idx0": 0, "sheet_idx1": "EI0"}
    assert mt.compare_table(mine, gold, **_rules(rule)) == 0.0
    assert mt.compare_table([mine, "r-Sheet1.csv"], [gold], **_rules(dict(rule, ignore_case=True))) == 1.0
    (tmp_path / "r-Sheet1.csv").unlink()
    assert mt.compare_table(mine, gold, **_rules(dict(rule, ignore_case=True))) == 0.0


def test_sheet_fuzzy(tmp_path: Path) -> None:
    mine = _shared_strings(_book(tmp_path / "r.xlsx", [["Cafe", "12 Main Rd", "+1 (555) 123-4567", 3]]))
    gold = _shared_strings(_book(tmp_path / "g.xlsx", [["cafe", "12 Main Road", "15551234567", "3"]]))
    rules = [
        {"range": ["A1"], "type": "exact_match", "ignore_case": True},
        {"range": ["B1"], "type": "fuzzy_match", "threshold": 85, "normalization": [["Rd", "Road"]]},
        {"range": ["C1"], "type": "includes", "trim_leadings": "+ ", "ignore_chars": " ()-"},
    ]
    rule = {"type": "sheet_fuzzy", "sheet_idx0": "RNSheet1", "sheet_idx1": "ENSheet1", "rules": rules}
    assert mt.compare_table(mine, gold, **_rules(rule)) == 1.0
    number_vs_text = dict(rule, rules=[{"range": ["D1"], "type": "exact_match"}])
    assert mt.compare_table(mine, gold, **_rules(number_vs_text)) == 0.0  # "3.0" is not "3"


def _styled(color: str, bold: bool = True) -> Any:
    def edit(wb: Workbook, ws: Any) -> None:
        ws["A1"].font = Font(bold=bold, color=color)
        ws["A1"].fill = PatternFill("solid", fgColor="FF0000FF", bgColor="FF0000FF")

    return edit


def test_check_cell(tmp_path: Path) -> None:
    path = _shared_strings(
        _book(tmp_path / "a.xlsx", [["Demographic Profile", 191.66667]], _styled("FFFFFFFF"))
    )
    props = {"font_bold": {"method": "eq", "ref": True}, "bgcolor": {"method": "eq", "ref": "FF0000FF"}}
    props |= {"value": {"method": "eq", "ref": "Demographic Profile"}}
    cell = {"type": "check_cell", "sheet_idx": 0, "coordinate": "A1", "props": props}
    assert mt.compare_table(path, **_rules(cell)) == 1.0
    near = {"type": "check_cell", "sheet_idx": "RNSheet1", "coordinate": "B1"}
    assert mt.compare_table(
        path, **_rules(dict(near, props={"value": {"method": "approx:0.001", "ref": 191.6667}}))
    )
    assert not mt.compare_table(
        path, **_rules(dict(near, props={"value": {"method": "approx:0.001", "ref": 191}}))
    )
    white = {"font_color": {"method": "eq", "ref": "FF000000"}}
    assert mt.compare_table(path, **_rules(dict(cell, props=white))) == 0.0


def test_style_and_conditional_formats(tmp_path: Path) -> None:
    white = _book(tmp_path / "w.xlsx", BASE, _styled("FFFFFFFF"))
    red = _book(tmp_path / "r.xlsx", BASE, _styled("FFFF0000"))
    rule = {"type": "style", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["font_color", "bgcolor"]}
    assert mt.compare_table(white, white, **_rules(rule)) == 1.0
    assert mt.compare_table(white, red, **_rules(rule)) == 0.0

    def weekend(formula: str) -> Any:
        fill = PatternFill(bgColor="FFFF0000")
        return lambda wb, ws: ws.conditional_formatting.add(
            "A1:A7", FormulaRule(formula=[formula], fill=fill)
        )

    def painted(wb: Workbook, ws: Any) -> None:
        for row in (6, 7):
            ws[f"A{row}"].fill = PatternFill(bgColor="FFFF0000")

    days = [[45292 + i] for i in range(7)]  # Monday 2024-01-01 to Sunday
    by_rule = _book(tmp_path / "cf.xlsx", days, weekend("WEEKDAY(A1,2)>5"))
    by_hand = _book(tmp_path / "hand.xlsx", days, painted)
    wrong = _book(tmp_path / "wrong.xlsx", days, weekend("WEEKDAY(A1,2)<6"))
    bg = dict(rule, props=["bgcolor"])
    assert mt.compare_table(by_rule, by_hand, **_rules(bg)) == 1.0
    assert mt.compare_table(wrong, by_hand, **_rules(bg)) == 0.0
    absolute = _book(tmp_path / "abs.xlsx", days, weekend("A1>$B$1"))
    with pytest.raises(Unsupported, match="conditional_format"):
        mt.compare_table(absolute, by_hand, **_rules(bg))


def test_condition_evaluator() -> None:
    assert condition('AND(LEN(A1)>2,LEFT(A1,1)="a")')("abc")
    assert not condition('AND(LEN(A1)>2,LEFT(A1,1)="a")')("xbc")
    assert condition("MOD(A1,2)=1")(3.0)
    assert not condition("A1/0>1")(3.0)
    assert condition("ISBLANK(A1)")(None)


def test_sheet_properties(tmp_path: Path) -> None:
    b2 = _book(tmp_path / "b2.xlsx", BASE, lambda wb, ws: setattr(ws, "freeze_panes", "B2"))
    a2 = _book(tmp_path / "a2.xlsx", BASE, lambda wb, ws: setattr(ws, "freeze_panes", "A2"))
    freeze = {"type": "freeze", "sheet_idx0": 0, "sheet_idx1": "EI0"}
    assert mt.compare_table(b2, b2, **_rules(freeze)) == 1.0
    assert mt.compare_table(b2, a2, **_rules(freeze)) == 0.0
    zoomed = _book(tmp_path / "z.xlsx", BASE, lambda wb, ws: setattr(ws.sheet_view, "zoomScale", 300))
    zoom = {"type": "zoom", "sheet_idx": 0, "method": "lt", "ref": 260}
    assert mt.compare_table(b2, **_rules(zoom)) == 1.0
    assert mt.compare_table(zoomed, **_rules(zoom)) == 0.0
    hidden2 = _book(tmp_path / "h2.xlsx", BASE, lambda wb, ws: setattr(ws.row_dimensions[2], "hidden", True))
    hidden3 = _book(tmp_path / "h3.xlsx", BASE, lambda wb, ws: setattr(ws.row_dimensions[3], "hidden", True))
    rows = {"type": "row_props", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["hidden"]}
    assert mt.compare_table(hidden2, hidden2, **_rules(rows)) == 1.0
    assert mt.compare_table(hidden2, hidden3, **_rules(rows)) == 0.0


def _validated(items: str) -> Any:
    def edit(wb: Workbook, ws: Any) -> None:
        dv = DataValidation(type="list", formula1=items)
        dv.add("D2:D29")
        ws.add_data_validation(dv)

    return edit


def test_data_validation(tmp_path: Path) -> None:
    want = {
        "ranges": {"method": "spreadsheet_range", "ref": ["D2:D29", "D2:D1048576"]},
        "type": {"method": "eq", "ref": "list"},
        "formula1": {"method": "str_set_eq", "ref": ["Pass", "Fail", "Held"]},
    }
    rule = {"type": "data_validation", "sheet_idx": 0, "dv_props": [want]}
    good = _book(tmp_path / "ok.xlsx", BASE, _validated('"Held,Pass,Fail"'))
    bad = _book(tmp_path / "bad.xlsx", BASE, _validated('"Pass,Fail"'))
    assert mt.compare_table(good, **_rules(rule)) == 1.0
    assert mt.compare_table(bad, **_rules(rule)) == 0.0


def _chart(kind: str, title: str) -> Any:
    def edit(wb: Workbook, ws: Any) -> None:
        chart = BarChart() if kind == "bar" else LineChart()
        chart.title = title
        chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=3), titles_from_data=True)
        ws.add_chart(chart, "E2")

    return edit


def test_chart(tmp_path: Path) -> None:
    bar = _book(tmp_path / "bar.xlsx", BASE, _chart("bar", "GDP"))
    same = _book(tmp_path / "bar2.xlsx", BASE, _chart("bar", "GDP"))
    line = _book(tmp_path / "line.xlsx", BASE, _chart("line", "GDP"))
    rule = {"type": "chart", "sheet_idx0": 0, "sheet_idx1": "EI0", "chart_props": ["type", "title"]}
    assert mt.compare_table(bar, same, **_rules(rule)) == 1.0
    assert mt.compare_table(bar, line, **_rules(rule)) == 0.0


def _pivot(row_field: int) -> Any:
    def edit(wb: Workbook, ws: Any) -> None:
        fields = [CacheField(name=n, sharedItems=SharedItems()) for n in ("Name", "Score", "Ratio")]
        source = CacheSource(type="worksheet", worksheetSource=WorksheetSource(ref="A1:C3", sheet="Sheet1"))
        cache = CacheDefinition(cacheSource=source, cacheFields=fields, recordCount=0)
        cache.records = RecordList()
        items = [FieldItem(x=0), FieldItem(x=1)]
        pivot_fields = [
            PivotField(axis="axisRow", items=items) if i == row_field else PivotField() for i in range(3)
        ]
        pivot = TableDefinition(
            name="P",
            cacheId=1,
            dataCaption="Data",
            location=Location(ref="A1:B3", firstHeaderRow=1, firstDataRow=1, firstDataCol=1),
            pivotFields=pivot_fields,
            rowFields=[RowColField(x=row_field)],
            dataFields=[DataField(name="Sum", fld=2)],
        )
        pivot.cache = cache
        wb.create_sheet("Sheet2")._pivots.append(pivot)

    return edit


def test_pivot_table(tmp_path: Path) -> None:
    by_name = _book(tmp_path / "a.xlsx", BASE, _pivot(0))
    again = _book(tmp_path / "b.xlsx", BASE, _pivot(0))
    by_score = _book(tmp_path / "c.xlsx", BASE, _pivot(1))
    rule = {"type": "pivot_table", "sheet_idx0": "RNSheet2", "sheet_idx1": "ENSheet2"}
    rule["pivot_props"] = ["col_fields", "filter", "row_fields", "data_fields"]
    assert mt.compare_table(by_name, again, **_rules(rule)) == 1.0
    assert mt.compare_table(by_name, by_score, **_rules(rule)) == 0.0


def test_compare_csv(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("Name,Score\nann,3\n")
    (tmp_path / "b.csv").write_text(" NAME,Score\nANN,3 \n")
    a, b = str(tmp_path / "a.csv"), str(tmp_path / "b.csv")
    assert mt.compare_csv(a, a) == 1.0
    assert mt.compare_csv(a, b) == 0.0
    assert mt.compare_csv(a, b, strict=False) == 0.0
    assert mt.compare_csv(a, b, strict=False, ignore_case=True) == 1.0
    assert mt.compare_csv(None, a) == 0.0


CITIES = ["Scottsdale", "Atlanta", "Lake Tahoe", "Banff", "Beijing", "Montréal", "San Diego"]


def test_conference_cities(tmp_path: Path) -> None:
    wanted = {"expected": [*CITIES[:5], ["Montreal", "Montréal"], *CITIES[6:]] + ["X"] * 14}
    cities = CITIES + ["X"] * 14
    good = _book(
        tmp_path / "ok.xlsx", [["Year", "Conf", "City"]] + [[i, "C", c] for i, c in enumerate(cities)]
    )
    cities[3] = "Toronto"
    bad = _book(
        tmp_path / "bad.xlsx", [["Year", "Conf", "City"]] + [[i, "C", c] for i, c in enumerate(cities)]
    )
    assert mt.compare_conference_city_in_order(good, wanted) == 1.0
    assert mt.compare_conference_city_in_order(bad, wanted) == 0.0
    assert mt.compare_conference_city_in_order(None, wanted) == 0.0


def test_conference_city_getter(tmp_path: Path) -> None:
    files = {"/home/user/Desktop/c.csv": b"Year,Conf,City\n2019,ICML,Long Beach\n2020,ICML,Vienna\n"}
    guest = SimpleNamespace(read_file=lambda path: files.get(path))
    ctx: Any = SimpleNamespace(guest=guest, files=tmp_path)
    assert mt.conference_city_in_order(ctx, {"csv_path": "Desktop/c.csv"}) == ["Long Beach", "Vienna"]
    assert mt.conference_city_in_order(ctx, {"csv_path": "/nowhere.csv"}) is None


def test_registered() -> None:
    assert set(mt.METRICS) == {"compare_table", "compare_csv", "compare_conference_city_in_order"}
    assert mt.GETTERS["conference_city_in_order"] is mt.conference_city_in_order
