"""Each document metric once where it holds and once where it does not, on files made here."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_BREAK, WD_PARAGRAPH_ALIGNMENT, WD_TAB_ALIGNMENT
from docx.shared import Inches, Pt, RGBColor
from PIL import Image

from aios.evals.osworld import metrics_docs_format as metrics_docs
from aios.evals.osworld.catalog import metric, option_gaps

Build = Callable[[docx.document.Document], None]


def _save(tmp_path: Path, name: str, paragraphs: list[str], build: Build | None = None) -> str:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if build is not None:
        build(document)
    path = tmp_path / name
    document.save(path)
    return str(path)


_ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"'
)


def _odt(tmp_path: Path, name: str, body: str, styles: str = "") -> str:
    content = (
        f"<office:document-content {_ODT_NS}><office:automatic-styles>{styles}</office:automatic-styles>"
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("META-INF/manifest.xml", "<manifest/>")
        archive.writestr("content.xml", content)
    return str(path)


_YELLOW_T1 = (
    '<style:style style:name="T1" style:family="text">'
    '<style:text-properties fo:background-color="#ffff00"/></style:style>'
)


def test_compare_docx_files_options(tmp_path: Path) -> None:
    compare = metric("compare_docx_files")
    expected = _save(tmp_path, "e.docx", ["Dear team,", "The release is on Friday."])
    joined = _save(tmp_path, "j.docx", ["Dear  team, The release", "is on Friday."])
    shouted = _save(tmp_path, "u.docx", ["DEAR TEAM,", "", "The release is on Friday."])
    assert compare(joined, expected) == 1.0  # blanks, paragraph breaks included, are all one space
    assert compare(joined, expected, ignore_blanks=False) == 0.0
    assert compare(shouted, expected) == 0.0
    assert compare(shouted, expected, ignore_case=True) == 1.0
    assert compare(shouted, expected, ignore_case=True, ignore_blanks=False) == 0.0  # the empty paragraph
    assert 0.5 < compare(shouted, expected, content_only=True) < 1.0
    assert compare(shouted, expected, content_only=True, ignore_case=True) == 1.0


def test_compare_docx_files_odt_and_mixed_formats(tmp_path: Path) -> None:
    compare = metric("compare_docx_files")
    odt = _odt(tmp_path, "a.odt", '<text:p>Hello <text:span text:style-name="T1">world</text:span></text:p>')
    same = _odt(tmp_path, "b.odt", "<text:p>Hello world</text:p>")
    other = _odt(tmp_path, "c.odt", "<text:p>Hello there</text:p>")
    as_docx = _save(tmp_path, "d.docx", ["Hello world"])
    assert compare(odt, same) == 1.0
    assert compare(odt, other) == 0.0
    assert compare(as_docx, same) == 0.0  # OSWorld never compares across formats
    assert compare(None, same) == 0.0
    assert compare(str(tmp_path / "missing.docx"), as_docx) == 0.0


def test_compare_docx_files_and_ignore_new_lines(tmp_path: Path) -> None:
    compare = metric("compare_docx_files_and_ignore_new_lines")
    expected = _save(tmp_path, "e.docx", ["One", "Two"])
    spaced = _save(tmp_path, "s.docx", ["One", "", "", "Two"])
    assert compare(spaced, expected, ignore_blanks=False) == 1.0
    assert compare(_save(tmp_path, "o.docx", ["One Two"]), expected, ignore_blanks=False) == 0.0
    assert compare(_save(tmp_path, "o2.docx", ["One Two"]), expected) == 1.0


def test_compare_docx_lines(tmp_path: Path) -> None:
    expected = _save(tmp_path, "e.docx", ["b", "a"])
    assert metric("compare_docx_lines")(_save(tmp_path, "r.docx", [" a ", "", "b", "a"]), expected) == 1.0
    assert metric("compare_docx_lines")(_save(tmp_path, "x.docx", ["a"]), expected) == 0.0


def test_compare_references(tmp_path: Path) -> None:
    compare = metric("compare_references")
    gold = _save(
        tmp_path, "g.docx", ["Essay", "References", "Smith, J. (2020). A book.", "Doe, A. (2019). A paper."]
    )
    close = _save(
        tmp_path,
        "c.docx",
        ["Essay!", "References", "Smith, J. (2020). A book", "", "Doe, A. (2019). A paper."],
    )
    short = _save(tmp_path, "s.docx", ["Essay", "References", "Smith, J. (2020). A book."])
    none = _save(tmp_path, "n.docx", ["Essay"])
    assert compare(gold, gold, content_only=True, reference_base_result=0.92) == 1.0
    assert 0.5 < compare(close, gold, content_only=True, reference_base_result=0.92) < 1.0
    assert compare(short, gold) == 0.0
    assert compare(none, gold) == 0.0
    assert compare(none, none) == 1.0  # neither has references: nothing to get wrong


def test_compare_docx_tables(tmp_path: Path) -> None:
    def table(cells: list[str]) -> Build:
        def build(document: docx.document.Document) -> None:
            grid = document.add_table(rows=1, cols=len(cells))
            for cell, text in zip(grid.rows[0].cells, cells, strict=True):
                cell.text = text

        return build

    expected = _save(tmp_path, "e.docx", [], table(["a", "b"]))
    assert (
        metric("compare_docx_tables")(_save(tmp_path, "r.docx", ["x"], table([" a", "b "])), expected) == 1.0
    )
    assert metric("compare_docx_tables")(_save(tmp_path, "w.docx", [], table(["a", "c"])), expected) == 0.0
    assert metric("compare_docx_tables")(_save(tmp_path, "n.docx", []), expected) == 0.0


def test_compare_line_spacing(tmp_path: Path) -> None:
    def spacing(value: float) -> Build:
        def build(document: docx.document.Document) -> None:
            document.paragraphs[0].paragraph_format.line_spacing = value

        return build

    expected = _save(tmp_path, "e.docx", ["Text"], spacing(2.0))
    assert metric("compare_line_spacing")(_save(tmp_path, "r.docx", ["Text"], spacing(2.0)), expected) == 1.0
    assert metric("compare_line_spacing")(_save(tmp_path, "w.docx", ["Text"], spacing(1.5)), expected) == 0.0
    assert metric("compare_line_spacing")(_save(tmp_path, "t.docx", ["Other"], spacing(2.0)), expected) == 0.0


def _runs(specs: list[tuple[str, dict[str, object]]]) -> Build:
    """A paragraph of runs, each with python-docx font attributes set."""

    def build(document: docx.document.Document) -> None:
        paragraph = document.add_paragraph()
        for text, font in specs:
            run = paragraph.add_run(text)
            for key, value in font.items():
                if key == "rgb":
                    run.font.color.rgb = value
                else:
                    setattr(run.font, key, value)

    return build


def test_check_italic_font_size_14(tmp_path: Path) -> None:
    check = metric("check_italic_font_size_14")
    expected = _save(tmp_path, "e.docx", [], _runs([("plain ", {}), ("slanted", {})]))
    good = _save(
        tmp_path, "g.docx", [], _runs([("plain ", {}), ("slanted", {"italic": True, "size": Pt(14)})])
    )
    bad = _save(
        tmp_path, "b.docx", [], _runs([("plain ", {}), ("slanted", {"italic": True, "size": Pt(12)})])
    )
    assert check(good, expected) == 1.0
    assert check(bad, expected) == 0.0


def test_evaluate_strike_through_last_paragraph(tmp_path: Path) -> None:
    check = metric("evaluate_strike_through_last_paragraph")
    expected = _save(tmp_path, "e.docx", ["Keep"], _runs([("Gone ", {}), ("too", {})]))
    struck = _save(
        tmp_path, "s.docx", ["Keep"], _runs([("Gone ", {"strike": True}), ("too", {"strike": True})])
    )
    half = _save(tmp_path, "h.docx", ["Keep"], _runs([("Gone ", {"strike": True}), ("too", {})]))
    assert check(struck, expected) == 1.0
    assert check(half, expected) == 0.0


def test_evaluate_colored_words_in_tables(tmp_path: Path) -> None:
    def words(colours: list[RGBColor | None]) -> Build:
        def build(document: docx.document.Document) -> None:
            grid = document.add_table(rows=1, cols=2)
            for cell, text, colour in zip(grid.rows[0].cells, ["apple", "Book"], colours, strict=True):
                run = cell.paragraphs[0].add_run(text)
                if colour is not None:
                    run.font.color.rgb = colour

        return build

    check = metric("evaluate_colored_words_in_tables")
    expected = _save(tmp_path, "e.docx", ["Words"], words([None, None]))
    right = _save(tmp_path, "r.docx", ["Words"], words([RGBColor(0xFE, 0, 0), RGBColor(0, 0, 0xFF)]))
    swapped = _save(tmp_path, "w.docx", ["Words"], words([RGBColor(0, 0, 0xFF), RGBColor(0xFF, 0, 0)]))
    assert check(right, expected) == 1.0
    assert check(swapped, expected) == 0.0
    assert check(expected, expected) == 0.0  # uncoloured words are neither red nor blue


def test_ciede2000_matches_published_pairs() -> None:
    """Pairs 1 and 17 of Sharma, Wu and Dalal's test data."""
    assert metrics_docs._ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(
        2.0425, abs=1e-4
    )
    assert metrics_docs._ciede2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)


def test_check_highlighted_words(tmp_path: Path) -> None:
    check = metric("check_highlighted_words")
    expected = _odt(tmp_path, "e.odt", "<text:p>Fix this word</text:p>")
    span = '<text:p>Fix <text:span text:style-name="{}">this</text:span> word</text:p>'
    clean = _odt(tmp_path, "c.odt", span.format("T2"), _YELLOW_T1)  # the yellow style exists, unused
    yellow = _odt(tmp_path, "y.odt", span.format("T1"), _YELLOW_T1)
    assert check(clean, expected) == 1.0
    assert check(yellow, expected) == 0.0
    assert check(_odt(tmp_path, "o.odt", "<text:p>Fix that word</text:p>"), expected) == 0.0


def test_compare_font_names(tmp_path: Path) -> None:
    rules = {"font_name": "Times New Roman"}
    right = _save(
        tmp_path,
        "r.docx",
        [],
        _runs([("a", {"name": "Times New Roman"}), ("b", {"name": "Times New Roman"})]),
    )
    mixed = _save(
        tmp_path, "m.docx", [], _runs([("a", {"name": "Times New Roman"}), ("b", {"name": "Arial"})])
    )
    assert metric("compare_font_names")(right, rules) == 1.0
    assert metric("compare_font_names")(mixed, rules) == 0.0
    assert metric("compare_font_names")(None, rules) == 0.0


def _xcu(tmp_path: Path, fonts: list[str]) -> str:
    items = "".join(
        '<item oor:path="/org.openoffice.Office.Writer/DefaultFont">'
        f'<prop oor:name="Standard" oor:op="fuse"><value>{font}</value></prop></item>'
        for font in fonts
    )
    path = tmp_path / "registrymodifications.xcu"
    path.write_text(f'<oor:items xmlns:oor="http://openoffice.org/2001/registry">{items}</oor:items>')
    return str(path)


def test_find_default_font(tmp_path: Path) -> None:
    rules = {"font_name": "Times New Roman"}
    assert metric("find_default_font")(_xcu(tmp_path, ["Arial", "Times New Roman"]), rules) == 1.0
    assert metric("find_default_font")(_xcu(tmp_path, ["Times New Roman", "Arial"]), rules) == 0.0
    assert metric("find_default_font")(None, rules) == 0.0


def test_contains_page_break(tmp_path: Path) -> None:
    def page_break(document: docx.document.Document) -> None:
        document.paragraphs[0].add_run().add_break(WD_BREAK.PAGE)

    def line_break(document: docx.document.Document) -> None:
        document.paragraphs[0].add_run().add_break(WD_BREAK.LINE)

    assert metric("contains_page_break")(_save(tmp_path, "p.docx", ["a"], page_break)) == 1.0
    assert metric("contains_page_break")(_save(tmp_path, "l.docx", ["a"], line_break)) == 0.0


def test_has_page_numbers_in_footers(tmp_path: Path) -> None:
    def footer(text: str) -> Build:
        def build(document: docx.document.Document) -> None:
            document.sections[0].footer.paragraphs[0].text = text

        return build

    assert metric("has_page_numbers_in_footers")(_save(tmp_path, "n.docx", ["a"], footer("Page 1"))) == 1.0
    assert metric("has_page_numbers_in_footers")(_save(tmp_path, "t.docx", ["a"], footer("Page"))) == 0.0
    assert metric("has_page_numbers_in_footers")(_save(tmp_path, "e.docx", ["a"])) == 0.0


def test_is_first_line_centered(tmp_path: Path) -> None:
    def centre(document: docx.document.Document) -> None:
        document.paragraphs[0].alignment = WD_PARAGRAPH_ALIGNMENT.CENTER

    assert metric("is_first_line_centered")(_save(tmp_path, "c.docx", ["Title", "Body"], centre)) == 1.0
    assert metric("is_first_line_centered")(_save(tmp_path, "l.docx", ["Title", "Body"])) == 0.0
    assert metric("is_first_line_centered")(_save(tmp_path, "e.docx", [])) == 0.0


def test_compare_subscript_contains(tmp_path: Path) -> None:
    water = _runs([("H", {}), ("2", {"subscript": True}), ("O", {})])
    flat = _runs([("H", {}), ("2", {}), ("O", {})])
    expected = _save(tmp_path, "e.docx", [], water)
    assert metric("compare_subscript_contains")(_save(tmp_path, "r.docx", [], water), expected) == 1.0
    assert metric("compare_subscript_contains")(_save(tmp_path, "f.docx", [], flat), expected) == 0.0


def _png(tmp_path: Path, name: str, colour: str) -> str:
    path = tmp_path / name
    Image.new("RGB", (4, 4), colour).save(path)
    return str(path)


def test_compare_contains_image(tmp_path: Path) -> None:
    picture = _png(tmp_path, "red.png", "red")

    def with_picture(document: docx.document.Document) -> None:
        document.paragraphs[0].add_run().add_picture(picture, width=Inches(1))

    expected = _save(tmp_path, "e.docx", ["Logo"], with_picture)
    assert (
        metric("compare_contains_image")(_save(tmp_path, "r.docx", ["Logo"], with_picture), expected) == 1.0
    )
    without = _save(tmp_path, "n.docx", [], _runs([("Logo", {}), ("", {})]))
    assert metric("compare_contains_image")(without, expected) == 0.0


def test_compare_docx_images(tmp_path: Path) -> None:
    def picture(colour: str) -> Build:
        source = _png(tmp_path, f"{colour}.png", colour)
        return lambda document: document.add_picture(source)

    expected = _save(tmp_path, "e.docx", [], picture("red"))
    bitmap = tmp_path / "red.bmp"
    Image.new("RGB", (4, 4), "red").save(bitmap)
    as_bmp = _save(tmp_path, "m.docx", [], lambda document: document.add_picture(str(bitmap)))
    assert metric("compare_docx_images")(_save(tmp_path, "r.docx", ["x"], picture("red")), expected) == 1.0
    assert metric("compare_docx_images")(as_bmp, expected) == 1.0  # pixels, not file bytes
    assert metric("compare_docx_images")(_save(tmp_path, "b.docx", [], picture("blue")), expected) == 0.0
    assert metric("compare_docx_images")(_save(tmp_path, "n.docx", []), expected) == 0.0


def _tabbed(lines: list[str], stops: list[tuple[float, WD_TAB_ALIGNMENT]]) -> Build:
    def build(document: docx.document.Document) -> None:
        for line in lines:
            paragraph = document.add_paragraph(line)
            for inches, alignment in stops:
                paragraph.paragraph_format.tab_stops.add_tab_stop(Inches(inches), alignment)

    return build


def test_check_tabstops(tmp_path: Path) -> None:
    check = metric("check_tabstops")
    lines = ["one two three\tfour five", "six seven eight\tnine"]
    right = [(6.5, WD_TAB_ALIGNMENT.RIGHT)]
    expected = _save(tmp_path, "e.docx", [], _tabbed(lines, right))
    assert (
        check(_save(tmp_path, "r.docx", [], _tabbed(lines, right)), expected, word_number_split_by_tabstop=3)
        == 1.0
    )
    near = _save(tmp_path, "n.docx", [], _tabbed(lines, [(6.0, WD_TAB_ALIGNMENT.RIGHT)]))
    assert check(near, expected) == pytest.approx(1 - 0.5 / 6.0)  # default page: 8.5in less 1.25in margins
    left = _save(tmp_path, "l.docx", [], _tabbed(lines, [(6.5, WD_TAB_ALIGNMENT.LEFT)]))
    assert check(left, expected) == 0.0
    two_words = _save(tmp_path, "w.docx", [], _tabbed(["one two\tthree four", "six seven\tnine"], right))
    assert check(two_words, expected, word_number_split_by_tabstop=3, index=0) == 0.0


def test_unknown_options_are_named_as_gaps() -> None:
    assert option_gaps("compare_docx_files", {"ignore_blanks": False, "content_only": True}) == []
    assert option_gaps("compare_references", {"content_only": True, "reference_base_result": 0.92}) == []
    assert option_gaps("compare_docx_files", {"fuzzy": True}) == ["compare_docx_files:fuzzy"]


def test_a_file_that_is_not_a_document_scores_zero(tmp_path: Path) -> None:
    junk = tmp_path / "junk.docx"
    junk.write_text("not a zip")
    real = _save(tmp_path, "real.docx", ["a"])
    for name in ("compare_docx_tables", "compare_docx_lines", "compare_docx_images", "check_tabstops"):
        assert metric(name)(str(junk), real) == 0.0
        assert metric(name)(None, real) == 0.0
    assert metric("contains_page_break")(str(junk)) == 0.0
    assert "compare_image_text" not in metrics_docs.METRICS
