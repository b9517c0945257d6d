"""Write the LibreOffice tasks' input and expected files into evals/osworld/cache/, so the suite's office
tasks need no download and anyone can rebuild (and review) exactly what they start from and are judged by."""

from __future__ import annotations

import io
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

BUDGET = [("Rent", 1200, 1250), ("Food", 430, 455), ("Travel", 160, 95), ("Utilities", 210, 230)]
SCORES = [("Mia", 72), ("Noah", 91), ("Liam", 65), ("Emma", 88), ("Olivia", 79), ("Ava", 94)]
NOTICE = [
    "Team Meeting Notice",
    "The weekly meeting moves to Monday this month.",
    "Please bring your status notes on Monday.",
    "Lunch is provided after the meeting.",
]
MEMO = ["Quarterly Report", "Sales grew in every region this quarter.", "Details follow in the appendix."]


def _deterministic(data: bytes) -> bytes:
    """The same archive with fixed member times and no document timestamps the libraries add."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            dst.writestr(info, src.read(item.filename))
    return out.getvalue()


def _save(name: str, write: Callable[[io.BytesIO], None]) -> None:
    buffer = io.BytesIO()
    write(buffer)
    (CACHE / name).write_bytes(_deterministic(buffer.getvalue()))


def _fixed_core(props: object) -> None:
    """python-docx / python-pptx stamp 'now' into core properties; a fixed date keeps output stable."""
    import datetime as dt

    moment = dt.datetime(2024, 1, 1)
    props.created = moment  # type: ignore[attr-defined]
    props.modified = moment  # type: ignore[attr-defined]
    props.last_printed = moment  # type: ignore[attr-defined]


def _book(rows: list[tuple[object, ...]], title: str) -> Workbook:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    book.properties.created = book.properties.modified = __import__("datetime").datetime(2024, 1, 1)
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


def _document(paragraphs: list[str]) -> Document:
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
"""Placeholder boxes in EMU as LibreOffice writes them back (whole 1/100 mm), so a save moves nothing."""


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


def impress_files() -> None:
    """A deck whose first title is to be renamed, and a deck to which a closing slide is to be added."""
    _save("impress_pitch.pptx", _deck(PITCH).save)
    _save("impress_pitch_expected.pptx", _deck([("Launch Plan", PITCH[0][1]), PITCH[1]]).save)


def main() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    calc_files()
    writer_files()
    impress_files()


if __name__ == "__main__":
    main()
