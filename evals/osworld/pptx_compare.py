"""OSWorld's compare_pptx_files: two decks agree slide by slide, shape by shape and run by run on what the
task's options examine (text, fonts, bullets, notes, and task-specific moves of shapes)."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios.evals.osworld.metrics import Metric
from aios.evals.osworld.pptx_deck import FREEFORM, PICTURE, TABLE, A, open_deck

if TYPE_CHECKING:
    from pptx.presentation import Presentation as Deck
    from pptx.shapes.base import BaseShape
    from pptx.slide import Slide

logger = logging.getLogger(__name__)

TITLE_LOW_TOP, TABLE_LOW_TOP, RIGHT_LEFT, PICTURE_HIGH_TOP = 3600000, 3600000, 4320000, 1980000
"""EMU thresholds of OSWorld's task-specific moves: a title or table moved below, a shape moved right of,
a picture moved above these lines."""
SHIFT_EXEMPT_TEXT = "Elaborate on what you want to discuss."
TITLE_TEXT = "Product Comparison"
TABLE_SLIDE, MOVED_SLIDE = 3, 2
"""1-based slides on which OSWorld's table / right-move / top-move checks look (their tasks' decks)."""

PPTX_OPTIONS: dict[str, bool] = {
    "examine_number_of_slides": True,
    "examine_shape": True,
    "examine_text": True,
    "examine_indent": True,
    "examine_font_name": True,
    "examine_font_size": True,
    "examine_font_bold": True,
    "examine_font_italic": True,
    "examine_color_rgb": True,
    "examine_font_underline": True,
    "examine_strike_through": True,
    "examine_alignment": True,
    "examine_title_bottom_position": False,
    "examine_table_bottom_position": False,
    "examine_right_position": False,
    "examine_top_position": False,
    "examine_shape_for_shift_size": False,
    "examine_image_size": False,
    "examine_modify_height": False,
    "examine_bullets": True,
    "examine_background_color": True,
    "examine_note": True,
}
"""compare_pptx_files' options and their defaults."""
IGNORED_PPTX_OPTIONS = {"examine_aligment"}
"""Misspelt options in OSWorld's tasks that its metric never reads, so they change nothing here either."""

Flags = dict[str, bool]
Bullet = tuple[str | None, str | None, str, str | None]
SlidePair = tuple["Slide", "Slide"]


def _flags(options: dict[str, Any]) -> Flags:
    return {
        name.removeprefix("examine_"): bool(options.get(name, default))
        for name, default in PPTX_OPTIONS.items()
    }


def compare_pptx_files(result: str | None, expected: str | None, **options: Any) -> float:
    """The decks agree slide by slide, shape by shape and run by run on whatever the options examine."""
    if result is None or expected is None or not Path(result).is_file():
        return 0.0
    try:
        return float(_decks_match(open_deck(result), open_deck(expected), _flags(options)))
    except Exception as error:  # OSWorld raises on shapes it cannot measure: a failed comparison
        logger.warning("compare_pptx_files: %s", error)
        return 0.0


def _decks_match(mine: Deck, theirs: Deck, flags: Flags) -> bool:
    if flags["number_of_slides"] and len(mine.slides) != len(theirs.slides):
        return False
    pairs = zip(mine.slides, theirs.slides, strict=False)
    return all(_slides_match(a, b, index, flags) for index, (a, b) in enumerate(pairs, start=1))


def _slides_match(mine: Slide, theirs: Slide, index: int, flags: Flags) -> bool:
    """`examine_background_color` never fails: OSWorld's check sets the background, then compares None."""
    if flags["note"] and _notes(mine) != _notes(theirs):
        return False
    slides = (mine, theirs)
    pairs = zip(mine.shapes, theirs.shapes, strict=False)
    return all(_shapes_match(a, b, index, flags, slides) for a, b in pairs)


def _notes(slide: Slide) -> str:
    return slide.notes_slide.notes_text_frame.text.strip()


def _has_text(shape: BaseShape) -> bool:
    """As OSWorld's hasattr, side effect included: a text-less autoshape gains a body the bullet list sees."""
    return hasattr(shape, "text")


def _moved(a: BaseShape, b: BaseShape) -> bool:
    return a.left != b.left or a.top != b.top or a.width != b.width or a.height != b.height


def _title_bottom_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    if _has_text(a) and _has_text(b) and a.text == b.text:
        return not (a.text == TITLE_TEXT and (a.top <= b.top or a.top < TITLE_LOW_TOP))
    return not _moved(a, b)


def _table_bottom_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    if index == TABLE_SLIDE and a.shape_type == TABLE and b.shape_type == TABLE:
        return not (a.top <= b.top or a.top < TABLE_LOW_TOP)
    return not _moved(a, b)


def _right_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    if index == MOVED_SLIDE and not _has_text(a) and not _has_text(b):
        return not (a.left <= b.left or a.left < RIGHT_LEFT)
    return True


def _top_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    if index == MOVED_SLIDE and a.shape_type == PICTURE and b.shape_type == PICTURE:
        return not (a.top >= b.top or a.top > PICTURE_HIGH_TOP)
    return not _moved(a, b)


def _shift_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    if not _moved(a, b):
        return True
    return _has_text(a) and _has_text(b) and a.text == b.text == SHIFT_EXEMPT_TEXT


def _same_place(a: BaseShape, b: BaseShape, index: int) -> bool:
    return not _moved(a, b)


def _image_size_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    if a.shape_type == PICTURE and b.shape_type == PICTURE:
        return a.width == b.width and a.height == b.height
    return not _moved(a, b)


def _height_ok(a: BaseShape, b: BaseShape, index: int) -> bool:
    textless = not _has_text(a) and not _has_text(b)
    if textless or (a.shape_type == FREEFORM and b.shape_type == FREEFORM):
        return a.height == b.height
    return not _moved(a, b)


PLACEMENT_CHECKS: tuple[tuple[str, Callable[[BaseShape, BaseShape, int], bool]], ...] = (
    ("title_bottom_position", _title_bottom_ok),
    ("table_bottom_position", _table_bottom_ok),
    ("right_position", _right_ok),
    ("top_position", _top_ok),
    ("shape_for_shift_size", _shift_ok),
    ("shape", _same_place),
    ("image_size", _image_size_ok),
    ("modify_height", _height_ok),
)
"""Geometry checks in OSWorld's order, which matters through `_has_text`'s side effect."""


def _shapes_match(a: BaseShape, b: BaseShape, index: int, flags: Flags, slides: SlidePair) -> bool:
    for flag, check in PLACEMENT_CHECKS:
        if flags[flag] and not check(a, b, index):
            return False
    if not (_has_text(a) and _has_text(b)):
        return True
    return _texts_match(a, b, flags, slides)


def _texts_match(a: Any, b: Any, flags: Flags, slides: SlidePair) -> bool:
    """Bullets are compared once per shape pair: the slides' XML changes only between shapes."""
    if flags["text"] and a.text.strip() != b.text.strip():
        return False
    checked_bullets = False
    for para_a, para_b in zip(a.text_frame.paragraphs, b.text_frame.paragraphs, strict=False):
        if not _paragraphs_match(para_a, para_b, flags):
            return False
        for run_a, run_b in zip(para_a.runs, para_b.runs, strict=False):
            if not _runs_match(run_a, run_b, flags):
                return False
            if flags["bullets"] and not checked_bullets:
                checked_bullets = True
                if _bullets(slides[0].part.blob) != _bullets(slides[1].part.blob):
                    return False
    return True


def _paragraphs_match(a: Any, b: Any, flags: Flags) -> bool:
    if flags["alignment"] and a.alignment != b.alignment:
        return False
    if flags["text"] and a.text != b.text:
        return False
    return not (flags["indent"] and a.level != b.level)


def _runs_match(a: Any, b: Any, flags: Flags) -> bool:
    font_a, font_b = a.font, b.font
    rgb_a, rgb_b = _rgb(font_a), _rgb(font_b)
    differs = {
        "font_name": font_a.name != font_b.name,
        "font_size": font_a.size != font_b.size,
        "font_bold": font_a.bold != font_b.bold,
        "font_italic": font_a.italic != font_b.italic,
        "color_rgb": rgb_a != rgb_b and None not in (rgb_a, rgb_b),
        "font_underline": font_a.underline != font_b.underline,
        "strike_through": _strike(font_a) != _strike(font_b),
    }
    return not any(flags[flag] and differ for flag, differ in differs.items())


def _rgb(font: Any) -> Any:
    """None for theme or no colour: OSWorld compares colours only when both runs have an RGB one."""
    return getattr(font.color, "rgb", None)


def _strike(font: Any) -> str:
    return font._element.get("strike", "noStrike")


def _bullets(xml: bytes) -> list[Bullet]:
    """Each paragraph of the slide as (level, bullet, text, bullet colour), as OSWorld lists them."""
    found: list[Bullet] = []
    for para in ET.fromstring(xml).iter(f"{{{A}}}p"):
        text = "".join(t.text or "" for t in para.iter(f"{{{A}}}t"))
        props = para.find(f"{{{A}}}pPr")
        if props is None:
            found.append(("No Level", "No Bullet", text, "No Color"))
            continue
        char = props.find(f"{{{A}}}buChar")
        color = props.find(f"{{{A}}}buClr/{{{A}}}srgbClr")
        found.append(
            (
                props.get("lvl"),
                char.get("char") if char is not None else "No Bullet",
                text,
                color.get("val") if color is not None else "No Color",
            )
        )
    return found


def _pptx_option_gaps(options: dict[str, Any]) -> list[str]:
    """Options this OSWorld never had: a newer one may honour them, so the task is flagged, not mis-scored."""
    return sorted(name for name in options if name not in PPTX_OPTIONS and name not in IGNORED_PPTX_OPTIONS)


METRICS: dict[str, Metric] = {"compare_pptx_files": compare_pptx_files}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {"compare_pptx_files": _pptx_option_gaps}
