"""OSWorld's Writer metrics on how a document looks: spacing, fonts, colours, highlights, breaks, footers,
alignment, images and tab stops (most also need the text to match, as in OSWorld)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.metrics_docs_text import compare_docx_files
from aios.evals.osworld.writer_files import (
    TEXT,
    OptionGaps,
    doc_kind,
    odt_parts,
    open_document,
    runs,
    unknown_options,
    xml_parser,
)

if TYPE_CHECKING:
    from docx.document import Document
    from docx.text.paragraph import Paragraph

log = logging.getLogger(__name__)

_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_FO = "{urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0}"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_REGISTRY = "{http://openoffice.org/2001/registry}"
_WRITER_DEFAULT_FONT = "/org.openoffice.Office.Writer/DefaultFont"
_YELLOW = "#ffff00"
_RED, _BLUE = (255, 0, 0), (0, 0, 255)


def compare_line_spacing(result: str | None, expected: str | None) -> float:
    """Same text, and each paragraph's own line spacing equals the expected one's."""
    if not compare_docx_files(result, expected):
        return 0.0
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None or len(mine.paragraphs) != len(theirs.paragraphs):
        return 0.0
    return float(
        all(
            a.paragraph_format.line_spacing == b.paragraph_format.line_spacing
            for a, b in zip(mine.paragraphs, theirs.paragraphs, strict=True)
        )
    )


def check_italic_font_size_14(result: str | None, expected: str | None) -> float:
    """Same text, and every italic run of the body is explicitly 14 pt."""
    if not compare_docx_files(result, expected):
        return 0.0
    document = open_document(result)
    if document is None:
        return 0.0
    italic = (run for run in runs(document) if run.italic)
    return float(all(run.font.size is not None and run.font.size.pt == 14 for run in italic))


def evaluate_strike_through_last_paragraph(result: str | None, expected: str | None) -> float:
    """Same text, and every run of the last paragraph is struck through."""
    if not compare_docx_files(result, expected):
        return 0.0
    document = open_document(result)
    if document is None or not document.paragraphs:
        return 0.0
    return float(all(run.font.strike for run in document.paragraphs[-1].runs))


def evaluate_colored_words_in_tables(result: str | None, expected: str | None, **options: Any) -> float:
    """Same text; in tables, vowel-initial words red and the rest blue, to CIEDE2000 `threshold`."""
    if not compare_docx_files(result, expected):
        return 0.0
    document = open_document(result)
    if document is None:
        return 0.0
    threshold = float(options.get("threshold", 3.5))
    return float(all(_coloured_right(run, threshold) for run in _table_runs(document) if run.text))


def _table_runs(document: Document) -> Iterator[Any]:
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    yield from paragraph.runs


def _coloured_right(run: Any, threshold: float) -> bool:
    """A run without an explicit colour fails: OSWorld crashes there, and it is neither red nor blue."""
    colour = run.font.color.rgb
    if colour is None:
        return False
    target = _RED if run.text[0].lower() in "aeiou" else _BLUE
    return _ciede2000(_lab(tuple(colour)), _lab(target)) <= threshold


def _lab(rgb: tuple[int, ...]) -> tuple[float, float, float]:
    """CIE L*a*b* of an 8-bit sRGB colour under D65, the conversion OSWorld's colour check uses."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255.0 for v in rgb)]
    r, g, b = linear
    x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047
    y = 0.212671 * r + 0.715160 * g + 0.072169 * b
    z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _ciede2000(one: tuple[float, float, float], two: tuple[float, float, float]) -> float:
    """CIEDE2000 colour difference (Sharma, Wu and Dalal's formulation, unit weights)."""
    (l1, a1, b1), (l2, a2, b2) = one, two
    mean_chroma = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(mean_chroma**7 / (mean_chroma**7 + 25**7)))
    c1, c2 = math.hypot(a1 * (1 + g), b1), math.hypot(a2 * (1 + g), b2)
    h1 = math.atan2(b1, a1 * (1 + g)) % (2 * math.pi)
    h2 = math.atan2(b2, a2 * (1 + g)) % (2 * math.pi)
    turn = h2 - h1
    if c1 * c2 == 0:
        turn = 0.0
    elif turn > math.pi:
        turn -= 2 * math.pi
    elif turn < -math.pi:
        turn += 2 * math.pi
    delta_hue = 2 * math.sqrt(c1 * c2) * math.sin(turn / 2)
    hue = _mean_hue(h1, h2, c1 * c2 == 0)
    t = (
        1
        - 0.17 * math.cos(hue - math.radians(30))
        + 0.24 * math.cos(2 * hue)
        + 0.32 * math.cos(3 * hue + math.radians(6))
        - 0.20 * math.cos(4 * hue - math.radians(63))
    )
    lightness, chroma = (l1 + l2) / 2, (c1 + c2) / 2
    s_l = 1 + 0.015 * (lightness - 50) ** 2 / math.sqrt(20 + (lightness - 50) ** 2)
    s_c, s_h = 1 + 0.045 * chroma, 1 + 0.015 * chroma * t
    rotation = math.radians(60) * math.exp(-(((math.degrees(hue) - 275) / 25) ** 2))
    r_t = -math.sin(rotation) * 2 * math.sqrt(chroma**7 / (chroma**7 + 25**7))
    dl, dc, dh = (l2 - l1) / s_l, (c2 - c1) / s_c, delta_hue / s_h
    return math.sqrt(dl**2 + dc**2 + dh**2 + r_t * dc * dh)


def _mean_hue(h1: float, h2: float, achromatic: bool) -> float:
    if achromatic:
        return h1 + h2
    if abs(h1 - h2) <= math.pi:
        return (h1 + h2) / 2
    return (h1 + h2 + 2 * math.pi) / 2 if h1 + h2 < 2 * math.pi else (h1 + h2 - 2 * math.pi) / 2


def check_highlighted_words(result: str | None, expected: str | None) -> float:
    """Same text (OSWorld's task is an .odt), and no span of it keeps a yellow (#ffff00) background."""
    if not result or doc_kind(result) != ".odt" or not compare_docx_files(result, expected):
        return 0.0
    parts = odt_parts(result)
    return 0.0 if parts is None or _has_yellow_span(parts) else 1.0


def _has_yellow_span(parts: list[etree._Element]) -> bool:
    """Own file's automatic styles first: odfpy renames clashing names so references keep their file's."""
    styles = [_automatic_styles(part) for part in parts]
    for index, part in enumerate(parts):
        lookups = [styles[index], *(s for i, s in enumerate(styles) if i != index)]
        for span in part.iter(f"{TEXT}span"):
            name = span.get(f"{TEXT}style-name")
            style = next((found[name] for found in lookups if name and name in found), None)
            if style is not None and any(child.get(f"{_FO}background-color") == _YELLOW for child in style):
                return True
    return False


def _automatic_styles(part: etree._Element) -> dict[str, etree._Element]:
    return {
        style.get(f"{_STYLE}name"): style
        for holder in part.iter(f"{_OFFICE}automatic-styles")
        for style in holder
        if style.get(f"{_STYLE}name")
    }


def compare_font_names(result: str | None, rules: dict[str, Any]) -> float:
    """Every run of the body names `font_name` as its own font (inherited fonts do not count)."""
    document = open_document(result)
    if document is None:
        return 0.0
    return float(all(run.font.name == rules["font_name"] for run in runs(document)))


def find_default_font(result: str | None, rules: dict[str, Any]) -> float:
    """Writer's Standard default font in LibreOffice's user settings; the last setting wins, as in OSWorld."""
    if not result or not Path(result).is_file():
        return 0.0
    found = None
    try:
        root = etree.parse(result, xml_parser()).getroot()
    except (etree.XMLSyntaxError, OSError) as error:
        log.info("%s is not readable settings: %s", result, error)
    else:
        for item in root.iterdescendants("item"):
            if item.get(f"{_REGISTRY}path") != _WRITER_DEFAULT_FONT:
                continue
            for prop in item.iterdescendants("prop"):
                if prop.get(f"{_REGISTRY}name") == "Standard":
                    found = next((value.text for value in reversed(prop.findall("value"))), found)
    return float(found == rules["font_name"])


def contains_page_break(result: str | None) -> float:
    """Some run of the body holds an explicit page break (a page-break-before paragraph is not one)."""
    document = open_document(result)
    if document is None:
        return 0.0
    return float(
        any(br.get(f"{_W}type") == "page" for run in runs(document) for br in run.element.iter(f"{_W}br"))
    )


def has_page_numbers_in_footers(result: str | None) -> float:
    """A digit in each section footer's first paragraph is OSWorld's stand-in for a page number."""
    document = open_document(result)
    if document is None:
        return 0.0
    return float(all(_footer_has_digit(section.footer.paragraphs) for section in document.sections))


def _footer_has_digit(paragraphs: list[Paragraph]) -> bool:
    return bool(paragraphs) and any(ch.isdigit() for ch in paragraphs[0].text)


def is_first_line_centered(result: str | None) -> float:
    """Only the paragraph's own alignment counts, as in OSWorld: a centred style alone does not."""
    from docx.enum.text import WD_PARAGRAPH_ALIGNMENT

    document = open_document(result)
    if document is None or not document.paragraphs:
        return 0.0
    return float(document.paragraphs[0].paragraph_format.alignment == WD_PARAGRAPH_ALIGNMENT.CENTER)


def compare_subscript_contains(result: str | None, expected: str | None) -> float:
    """Some run is subscript in both files at the same paragraph and run position."""
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    return float(any(a.font.subscript and b.font.subscript for a, b in _paired_runs(mine, theirs)))


def compare_contains_image(result: str | None, expected: str | None) -> float:
    """At every paragraph and run position both files have a drawing or neither does."""
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    return float(all(_has_graphic(a) == _has_graphic(b) for a, b in _paired_runs(mine, theirs)))


def _paired_runs(mine: Document, theirs: Document) -> Iterator[tuple[Any, Any]]:
    """Runs side by side; the longer file's extra paragraphs and runs are not looked at, as in OSWorld."""
    for a, b in zip(mine.paragraphs, theirs.paragraphs, strict=False):
        yield from zip(a.runs, b.runs, strict=False)


def _has_graphic(run: Any) -> bool:
    return any(True for _ in run.element.iter("{*}graphicData"))


def compare_docx_images(result: str | None, expected: str | None) -> float:
    """The same embedded images in the same order, compared by decoded pixels."""
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    ours, gold = _image_blobs(mine), _image_blobs(theirs)
    if ours is None or gold is None or len(ours) != len(gold):
        return 0.0
    return float(all(_same_pixels(a, b) for a, b in zip(ours, gold, strict=True)))


def _image_blobs(document: Document) -> list[bytes] | None:
    """None when an image is only linked, not embedded: nothing to compare (OSWorld crashes there)."""
    rels = [rel for rel in document.part.rels.values() if "image" in rel.reltype]
    if any(rel.is_external for rel in rels):
        return None
    return [rel.target_part.blob for rel in rels]


def _same_pixels(one: bytes, two: bytes) -> bool:
    """Decoded pixel bytes; a format Pillow cannot decode (WMF, SVG) is compared byte for byte instead."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(one)) as a, Image.open(BytesIO(two)) as b:
            return a.tobytes() == b.tobytes()
    except (UnidentifiedImageError, OSError):
        return one == two


def check_tabstops(result: str | None, expected: str | None, **options: Any) -> float:
    """Partial credit: tab stops of the same kinds lose their distance from the expected, per text width."""
    mine, theirs = open_document(result), open_document(expected)
    if mine is None or theirs is None:
        return 0.0
    ours = [p for p in mine.paragraphs if p.text.strip()]
    gold = [p for p in theirs.paragraphs if p.text.strip()]
    if len(ours) != len(gold) or not ours:
        return 0.0
    words = options.get("word_number_split_by_tabstop")
    if words is not None and not all(_words_before_tab(p, options.get("index", 0)) == words for p in ours):
        return 0.0
    width = _text_width(theirs)
    if not width:
        return 0.0
    penalty = 0.0
    for a, b in zip(ours, gold, strict=True):
        stops_a, stops_b = _tab_stops(a), _tab_stops(b)
        if len(stops_a) != len(stops_b):
            return 0.0
        pairs = list(zip(stops_a, stops_b, strict=True))
        if any(x.alignment != y.alignment for x, y in pairs):
            return 0.0
        penalty += sum(abs(x.position - y.position) for x, y in pairs) / width
    return max(0.0, 1.0 - penalty / len(ours))


def _words_before_tab(paragraph: Paragraph, index: int) -> int | None:
    pieces = paragraph.text.split("\t")
    if not -len(pieces) <= index < len(pieces):
        return None
    return len([w for w in re.split(r"\s", pieces[index]) if w.strip()])


def _text_width(document: Document) -> int | None:
    if not document.sections:
        return None
    section = document.sections[0]
    if None in (section.page_width, section.left_margin, section.right_margin):
        return None
    return section.page_width - section.left_margin - section.right_margin


def _tab_stops(paragraph: Paragraph) -> list[Any]:
    """The paragraph's own tab stops, less cleared ones and a left stop at 0, which change nothing."""
    from docx.enum.text import WD_TAB_ALIGNMENT

    return [
        stop
        for stop in paragraph.paragraph_format.tab_stops
        if stop.alignment != WD_TAB_ALIGNMENT.CLEAR
        and not (stop.alignment == WD_TAB_ALIGNMENT.LEFT and stop.position == 0)
    ]


_OPTIONS: dict[str, frozenset[str]] = {
    "check_tabstops": frozenset({"word_number_split_by_tabstop", "index"}),
    "evaluate_colored_words_in_tables": frozenset({"threshold"}),
}

# compare_image_text is left out: OCR (easyocr) needs a model download, so its tasks show as unsupported.
METRICS: dict[str, Metric] = {
    "compare_line_spacing": compare_line_spacing,
    "check_italic_font_size_14": check_italic_font_size_14,
    "evaluate_strike_through_last_paragraph": evaluate_strike_through_last_paragraph,
    "evaluate_colored_words_in_tables": evaluate_colored_words_in_tables,
    "check_highlighted_words": check_highlighted_words,
    "compare_font_names": compare_font_names,
    "find_default_font": find_default_font,
    "contains_page_break": contains_page_break,
    "has_page_numbers_in_footers": has_page_numbers_in_footers,
    "is_first_line_centered": is_first_line_centered,
    "compare_subscript_contains": compare_subscript_contains,
    "compare_contains_image": compare_contains_image,
    "compare_docx_images": compare_docx_images,
    "check_tabstops": check_tabstops,
}
OPTION_GAPS: dict[str, OptionGaps] = {
    name: unknown_options(_OPTIONS.get(name, frozenset())) for name in METRICS
}
