"""Write the LibreOffice tasks' input and expected files into evals/osworld/cache/: the suite's office tasks
then need no download, and anyone can rebuild (and review) what they start from and are judged by.

Run from anywhere: `python scripts/make_osworld_office_files.py`. The output is byte-for-byte stable."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docx import Document
from openpyxl import Workbook
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Pt

CACHE = Path(__file__).resolve().parent.parent / "evals" / "osworld" / "cache"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)
"""Every zip member's timestamp, so a rebuild writes the same bytes."""
FIXED_DATE = dt.datetime(2024, 1, 1)
"""The documents' own created/modified dates, which the libraries would otherwise set to now."""

BUDGET = [("Rent", 1200, 1250), ("Food", 430, 455), ("Travel", 160, 95), ("Utilities", 210, 230)]
SCORES = [("Mia", 72), ("Noah", 91), ("Liam", 65), ("Emma", 88), ("Olivia", 79), ("Ava", 94)]
NOTICE = [
    "Team Meeting Notice",
    "The weekly meeting moves to Monday this month.",
    "Please bring your status notes on Monday.",
    "Lunch is provided after the meeting.",
]
MEMO = ["Quarterly Report", "Sales grew in every region this quarter.", "Details follow in the appendix."]


MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
"""openpyxl stamps the save time here whatever the workbook's properties say."""


def _deterministic(data: bytes) -> bytes:
    """The same archive with fixed member times and modified date, so rebuilding changes no byte."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            member = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                member = MODIFIED.sub(rb"\g<1>2024-01-01T00:00:00Z\g<2>", member)
            dst.writestr(info, member)
    return out.getvalue()


def _save(name: str, write: Callable[[io.BytesIO], None]) -> None:
    """Have a library write the file into memory, then store it with fixed zip times."""
    buffer = io.BytesIO()
    write(buffer)
    (CACHE / name).write_bytes(_deterministic(buffer.getvalue()))


def _fixed_core(props: Any) -> None:
    """python-docx and python-pptx stamp 'now' into core properties; a fixed date keeps output stable."""
    props.created = props.modified = props.last_printed = FIXED_DATE


def _book(rows: list[tuple[object, ...]], title: str) -> Workbook:
    """One sheet of plain values: openpyxl stores no cached formula results, so expected files hold values."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    book.properties.created = book.properties.modified = FIXED_DATE
    return book


def calc_files() -> None:
    """A budget without its total row, and one with it; a score list unsorted, and sorted high to low."""
    header = ("Category", "January", "February")
    _save("calc_budget.xlsx", _book([header, *BUDGET], "Budget").save)
    totals = ("Total", sum(r[1] for r in BUDGET), sum(r[2] for r in BUDGET))
    _save("calc_budget_expected.xlsx", _book([header, *BUDGET, totals], "Budget").save)
    _save("calc_scores.xlsx", _book([("Name", "Score"), *SCORES], "Scores").save)
    ranked = sorted(SCORES, key=lambda r: r[1], reverse=True)
    _save("calc_scores_expected.xlsx", _book([("Name", "Score"), *ranked], "Scores").save)


def _document(paragraphs: list[str]) -> Any:
    """Plain paragraphs in python-docx's default style, which Writer keeps on a save."""
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    _fixed_core(document.core_properties)
    return document


def writer_files() -> None:
    """A notice whose meeting day is to be replaced, and a memo whose title is to be centred."""
    _save("writer_notice.docx", _document(NOTICE).save)
    _save("writer_notice_expected.docx", _document([p.replace("Monday", "Friday") for p in NOTICE]).save)
    _save("writer_memo.docx", _document(MEMO).save)


TITLE_BOX = (457200, 274680, 8228880, 1142280)
BODY_BOX = (457200, 1600200, 8228880, 4525200)
"""Placeholder boxes in EMU on whole 1/100 mm, as LibreOffice writes them. Impress still shrinks a box by
1/100 mm on every save, so the tasks compare decks with `examine_shape` off, as many of OSWorld's do."""


def _explicit(shape: Any, box: tuple[int, int, int, int], size: int, bullet: bool) -> None:
    """Spell out what LibreOffice writes on save (font, size, colour, alignment, bullet), so that a deck
    it saved compares equal to one written here wherever the task changed nothing."""
    shape.left, shape.top, shape.width, shape.height = (Emu(v) for v in box)
    for paragraph in shape.text_frame.paragraphs:
        if bullet:
            props = paragraph._p.get_or_add_pPr()
            props.set("marL", "343080")
            props.set("indent", "-343080")
            colour = props.makeelement(qn("a:buClr"), {})
            colour.append(props.makeelement(qn("a:srgbClr"), {"val": "000000"}))
            props.append(colour)
            props.append(props.makeelement(qn("a:buFont"), {"typeface": "Arial"}))
            props.append(props.makeelement(qn("a:buChar"), {"char": "\u2022"}))
        else:
            paragraph.alignment = PP_ALIGN.CENTER
        for run in paragraph.runs:
            run.font.name, run.font.size, run.font.bold = "Calibri", Pt(size), False
            run.font.color.rgb = RGBColor(0, 0, 0)


def _deck(slides: list[tuple[str, str]]) -> Any:
    """Title-and-content slides on a 4:3 page."""
    deck = Presentation()
    deck.slide_width, deck.slide_height = Emu(9144000), Emu(6858000)
    layout = deck.slide_layouts[1]
    for title, body in slides:
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        _explicit(slide.shapes.title, TITLE_BOX, 44, bullet=False)
        _explicit(slide.placeholders[1], BODY_BOX, 32, bullet=True)
    _fixed_core(deck.core_properties)
    return deck


PITCH = [("Product Pitch", "Our idea in one slide"), ("Market", "Who buys and why")]
ROADMAP = [("Roadmap", "Three phases to launch"), ("Phase One", "Build the prototype")]


def impress_files() -> None:
    """A deck whose first title is to be renamed; one whose last slide is to be duplicated and retitled."""
    _save("impress_pitch.pptx", _deck(PITCH).save)
    _save("impress_pitch_expected.pptx", _deck([("Launch Plan", PITCH[0][1]), PITCH[1]]).save)
    _save("impress_roadmap.pptx", _deck(ROADMAP).save)
    _save("impress_roadmap_expected.pptx", _deck([*ROADMAP, ("Phase Two", ROADMAP[1][1])]).save)


def main() -> None:
    """Every office file the LibreOffice tasks download, rewritten in place."""
    CACHE.mkdir(parents=True, exist_ok=True)
    calc_files()
    writer_files()
    impress_files()


if __name__ == "__main__":
    main()
