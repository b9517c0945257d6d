"""Every metric on known inputs, once where it holds and once where it does not."""

from __future__ import annotations

from pathlib import Path

import docx
import openpyxl
import pytest

from aios.evals.osworld import metrics
from aios.evals.osworld.catalog import METRICS, metric, option_gaps
from aios.evals.osworld.unsupported import Unsupported


def _text(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _xlsx(tmp_path: Path, name: str, rows: list[list[object]]) -> str:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / name
    book.save(path)
    return str(path)


def _docx(tmp_path: Path, name: str, paragraphs: list[str]) -> str:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    path = tmp_path / name
    document.save(path)
    return str(path)


def test_value_metrics() -> None:
    assert metric("exact_match")("yes\n", {"expected": "yes\n"}) == 1.0
    assert metric("exact_match")("yes", {"expected": "yes\n"}) == 0.0
    include = {"include": ["a", "b"], "exclude": ["err"]}
    assert metric("check_include_exclude")("a and b", include) == 1.0
    assert metric("check_include_exclude")("a and b, err", include) == 0.0
    assert metric("check_include_exclude")(None, include) == 0.0
    assert metric("match_in_list")("x", {"expected": ["x", "y"]}) == 1.0
    assert metric("match_in_list")("z", {"expected": ["x", "y"]}) == 0.0
    assert metric("is_in_list")(["x", "y"], {"expected": "y"}) == 1.0
    assert metric("is_in_list")(["x"], {"expected": "y"}) == 0.0


def test_check_direct_json_object() -> None:
    check = metric("check_direct_json_object")
    rules = {"expected": {"theme": "dark", "size": 3}}
    assert check({"theme": "dark", "size": 3, "other": 1}, rules) == 1.0
    assert check('{"theme": "dark", "size": 3}', rules) == 1.0  # a getter's JSON text
    assert check({"theme": "light", "size": 3}, rules) == 0.0
    assert check("not json", rules) == 0.0
    contained = {"expected": {"title": "Cats"}, "expect_in_result": True}
    assert check({"title": "All about Cats"}, contained) == 1.0
    assert check({"title": "Dogs"}, contained) == 0.0


def test_text_file_metrics(tmp_path: Path) -> None:
    a = _text(tmp_path, "a.txt", "Hello  World\n")
    same = _text(tmp_path, "b.txt", "Hello  World\n")
    loose = _text(tmp_path, "c.txt", "hello world")
    assert metric("compare_text_file")(a, same) == 1.0
    assert metric("compare_text_file")(a, loose) == 0.0
    assert metric("compare_text_file")(a, loose, ignore_blanks=True, ignore_case=True) == 1.0
    assert metric("compare_text_file")(None, same) == 0.0  # the agent never wrote the file
    assert metric("diff_text_file")(a, same) == 1.0
    assert metric("diff_text_file")(a, loose) == 0.0  # lines are compared whole, as OSWorld does
    longer = _text(tmp_path, "d.txt", "Hello  World\nsecond line\n")
    assert metric("diff_text_file")(a, longer) == pytest.approx(2 / 3)
    assert metric("diff_text_file")(str(tmp_path / "missing"), same) == 0.0


def test_url_and_tab_metrics() -> None:
    tab = {"title": "Cats", "url": "file:///home/user/site/cats.html", "content": ""}
    assert metric("is_expected_url_pattern_match")(tab, {"expected": [r"cats\.html$", "^file:"]}) == 1.0
    assert metric("is_expected_url_pattern_match")(tab, {"expected": [r"dogs\.html$"]}) == 0.0
    assert metric("is_expected_url_pattern_match")(None, {"expected": ["x"]}) == 0.0
    assert metric("is_expected_active_tab")(tab, {"type": "url", "url": tab["url"]}) == 1.0
    assert metric("is_expected_active_tab")(tab, {"type": "url", "url": "file:///other"}) == 0.0
    assert metrics.is_expected_active_tab(tab, {"type": "title", "title": "Cats"}) == 0.0  # as OSWorld


def test_compare_table_csv_and_xlsx(tmp_path: Path) -> None:
    csv = _text(tmp_path, "s.csv", "region,units\nnorth,120\n")
    good = _xlsx(tmp_path, "good.xlsx", [["region", "units"], ["north", 120]])
    bad = _xlsx(tmp_path, "bad.xlsx", [["region", "units"], ["north", 121]])
    assert metric("compare_table")(good, csv) == 1.0
    assert metric("compare_table")(bad, csv) == 0.0
    assert metric("compare_table")(good, good) == 1.0
    assert metric("compare_table")(_text(tmp_path, "fake.xlsx", "not a workbook"), good) == 0.0
    assert metric("compare_table")(None, good) == 0.0
    with pytest.raises(Unsupported, match="compare_table:moon_phase"):
        metric("compare_table")(good, good, rules=[{"type": "moon_phase"}])
    assert option_gaps("compare_table", {"rules": [{"type": "moon_phase"}, {"type": "pivot_table"}]}) == [
        "compare_table:moon_phase"
    ]


def test_compare_docx_files(tmp_path: Path) -> None:
    expected = _docx(tmp_path, "e.docx", ["Dear team,", "The release is on Friday."])
    same = _docx(tmp_path, "s.docx", ["Dear team,", "", "The release is on Friday."])
    other = _docx(tmp_path, "o.docx", ["Dear team,", "The release is on Monday."])
    swapped = _docx(tmp_path, "w.docx", ["The release is on Friday.", "Dear team,"])
    assert metric("compare_docx_files")(same, expected) == 1.0  # empty paragraphs do not count
    assert metric("compare_docx_files")(other, expected) == 0.0
    assert metric("compare_docx_files")(swapped, expected) == 0.0
    assert metric("compare_docx_files")(swapped, expected, ignore_order=True) == 1.0
    assert metric("compare_docx_files")(_text(tmp_path, "x.docx", "text"), expected) == 0.0


def test_moved_files_and_infeasible() -> None:
    tree = {
        "type": "directory",
        "name": "archive",
        "children": [
            {"type": "file", "name": "a.jpg"},
            {"type": "file", "name": "b.jpg"},
            {"type": "directory", "name": "sub", "children": []},
        ],
    }
    assert metric("check_moved_jpgs")(tree, {"expected": ["a.jpg", "b.jpg", "sub"]}) == 1.0
    assert metric("check_moved_jpgs")(tree, {"expected": ["a.jpg", "b.jpg"]}) == 0.0  # folders count too
    assert metric("check_moved_jpgs")(None, {"expected": []}) == 0.0
    assert metric("infeasible")() == 0.0  # the runner scores infeasible tasks from the last action


def test_every_shipped_metric_is_tested_here_and_unknown_ones_are_unsupported() -> None:
    source = Path(__file__).read_text()
    assert [name for name in metrics.METRICS if f'"{name}"' not in source] == []
    assert set(metrics.METRICS) <= set(METRICS)
    with pytest.raises(Unsupported, match="metric:no_such_metric"):
        metric("no_such_metric")
