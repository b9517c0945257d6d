"""OSWorld's Impress metrics and getters: decks, settings and panes judged as OSWorld judges them."""

from __future__ import annotations

import logging
import math
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aios.evals.osworld.getters import Getter, GetterContext, vm_file
from aios.evals.osworld.metrics import Metric

if TYPE_CHECKING:
    from pptx.presentation import Presentation as Deck
    from pptx.shapes.base import BaseShape
    from pptx.slide import Slide

logger = logging.getLogger(__name__)

A = "http://schemas.openxmlformats.org/drawingml/2006/main"
P = "http://schemas.openxmlformats.org/presentationml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
OOR = "http://openoffice.org/2001/registry"
ST = "uri:deskat:state.at-spi.gnome.org"
CP = "uri:deskat:component.at-spi.gnome.org"

FREEFORM, PICTURE, TABLE = 5, 13, 19
"""python-pptx's MSO_SHAPE_TYPE values that OSWorld's position checks single out."""
SOLID_FILL, BACKGROUND_FILL = 1, 5
"""python-pptx's MSO_FILL values: a solid colour, and 'no fill of its own' (the master's shows)."""
HALF_INCH = 457200
"""Half an inch in EMU: how far a stretched picture may miss the slide's size and centre."""
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


def _open_deck(path: str) -> Deck:
    from pptx import Presentation

    return Presentation(path)


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
        return float(_decks_match(_open_deck(result), _open_deck(expected), _flags(options)))
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


def check_image_stretch_and_center(modified: str | None, original: str | None) -> float:
    """The first slide's picture (found by its bytes) now fills the slide, centred, within half an inch."""
    if modified is None or original is None or not Path(modified).is_file():
        return 0.0
    try:
        return float(_stretched_and_centred(_open_deck(original), _open_deck(modified)))
    except Exception as error:  # no slide, no picture, or not a deck: OSWorld raises, the task fails
        logger.warning("check_image_stretch_and_center: %s", error)
        return 0.0


def _stretched_and_centred(before: Deck, after: Deck) -> bool:
    wanted = next(s for s in before.slides[0].shapes if s.shape_type == PICTURE).image.blob
    found = [s for s in after.slides[0].shapes if s.shape_type == PICTURE and s.image.blob == wanted]
    if not found:
        return False
    picture, width, height = found[-1], before.slide_width, before.slide_height
    misses = (
        picture.width - width,
        picture.height - height,
        picture.left - (width - picture.width) / 2,
        picture.top - (height - picture.height) / 2,
    )
    return all(abs(miss) <= HALF_INCH for miss in misses)


def check_slide_orientation_Portrait(pptx_file: str | None) -> float:
    """Portrait: the slides are narrower than they are tall."""
    if pptx_file is None or not Path(pptx_file).is_file():
        return 0.0
    try:
        deck = _open_deck(pptx_file)
        return float(deck.slide_width < deck.slide_height)
    except Exception as error:  # not a deck, or no slide size
        logger.warning("check_slide_orientation_Portrait: %s", error)
        return 0.0


def evaluate_presentation_fill_to_rgb_distance(pptx_file: str | None, rules: dict[str, Any]) -> float:
    """Partial credit by colour distance; a slide with no solid colour (own or master's) is farthest."""
    if pptx_file is None or not Path(pptx_file).is_file():
        return 0.0
    try:
        slides = list(_open_deck(pptx_file).slides)
        distances = [_fill_distance(slide, rules["rgb"]) for slide in slides]
        return 1 - sum(distances) / len(distances)
    except Exception as error:  # a theme colour has no RGB, a deck without slides: OSWorld raises
        logger.warning("evaluate_presentation_fill_to_rgb_distance: %s", error)
        return 0.0


def _fill_distance(slide: Slide, rgb: list[int]) -> float:
    fill = slide.background.fill
    if fill.type == BACKGROUND_FILL:
        fill = slide.slide_layout.slide_master.background.fill
    if fill.type != SOLID_FILL:
        return 1.0
    return math.dist(tuple(fill.fore_color.rgb), rgb) / math.dist((0, 0, 0), (255, 255, 255))


def check_transition(pptx_file: str | None, rules: dict[str, Any]) -> float:
    """Slide file `slide_idx`+1 has a transition of `transition_type` (e.g. dissolve)."""
    if pptx_file is None or not Path(pptx_file).is_file():
        return 0.0
    name = f"ppt/slides/slide{rules['slide_idx'] + 1}.xml"
    try:
        with zipfile.ZipFile(pptx_file) as deck:
            if name not in deck.namelist():
                return 0.0
            root = ET.fromstring(deck.read(name))
    except (zipfile.BadZipFile, ET.ParseError) as error:
        logger.warning("check_transition: %s", error)
        return 0.0
    transition = root.find(f".//{{{P}}}transition")
    if transition is None:
        return 0.0
    return float(transition.find(f".//{{{P}}}{rules['transition_type']}") is not None)


COLOR_TESTS: dict[str, Callable[[int, int, int], bool]] = {
    "red": lambda r, g, b: r > g + 50 and r > b + 50,
    "blue": lambda r, g, b: b > g + 50 and b > r + 50,
    "green": lambda r, g, b: g > r + 50 and g > b + 50,
    "black": lambda r, g, b: r < 50 and g < 50 and b < 50,
}
"""When a colour counts as `rules["color"]`; any other colour name is accepted, as in OSWorld."""


def check_page_number_colors(pptx_file: str | None, rules: dict[str, Any]) -> float:
    """OSWorld takes the master's second-to-last RGB fill as the slide numbers' colour, and so do we."""
    if pptx_file is None or not Path(pptx_file).is_file():
        return 0.0
    try:
        with zipfile.ZipFile(pptx_file) as deck:
            root = ET.fromstring(deck.read("ppt/slideMasters/slideMaster1.xml"))
    except (KeyError, zipfile.BadZipFile, ET.ParseError) as error:
        logger.warning("check_page_number_colors: %s", error)
        return 0.0
    colors = [c.get("val") for fill in root.iter(f"{{{A}}}solidFill") for c in fill.iter(f"{{{A}}}srgbClr")]
    value = colors[-2] if len(colors) >= 2 else None
    if value is None or not re.fullmatch(r"[0-9A-Fa-f]{6}", value):
        return 0.0
    # OSWorld reads the hex as '#RRGGBB', each channel a digit off (blue 2A6099 passes as red); not copied
    test = COLOR_TESTS.get(rules["color"])
    return float(test is None or test(int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)))


def _registry_values(xcu_file: str | None, item_path: str, prop: str) -> list[str | None]:
    """The values a LibreOffice registrymodifications.xcu gives one setting, in file order."""
    if xcu_file is None or not Path(xcu_file).is_file():
        return []
    try:
        root = ET.parse(xcu_file).getroot()
    except ET.ParseError as error:
        logger.warning("registrymodifications.xcu: %s", error)
        return []
    values: list[str | None] = []
    for item in root.iter("item"):
        if item.get(f"{{{OOR}}}path") != item_path:
            continue
        node = next((p for p in item.iter("prop") if p.get(f"{{{OOR}}}name") == prop), None)
        if node is not None:
            value = node.find(".//value")
            values.append(value.text if value is not None else None)
    return values


def check_presenter_console_disable(xcu_file: str | None) -> float:
    """Impress's presenter screen is switched off (its first setting in the profile is false)."""
    values = _registry_values(xcu_file, "/org.openoffice.Office.Impress/Misc/Start", "EnablePresenterScreen")
    return float(bool(values) and (values[0] or "").lower() == "false")


def check_auto_saving_time(xcu_file: str | None, rules: dict[str, Any]) -> float:
    """AutoRecovery saves every `minutes` minutes (the profile's last such setting counts)."""
    values = _registry_values(
        xcu_file, "/org.openoffice.Office.Common/Save/Document", "AutoSaveTimeIntervall"
    )
    try:
        minutes = int(values[-1]) if values else None
    except (TypeError, ValueError):
        return 0.0
    return float(minutes is not None and minutes == rules["minutes"])


def check_left_panel(accessibility_tree: str | None) -> float:
    """The slide pane is back: a visible split pane sits at its parent's origin in a root pane's panel."""
    if not accessibility_tree:
        return 0.0
    try:
        root = ET.fromstring(accessibility_tree)
    except ET.ParseError as error:
        logger.warning("check_left_panel: %s", error)
        return 0.0
    parents = {child: parent for parent in root.iter() for child in parent}
    for root_pane in root.iter("root-pane"):
        for panel in root_pane.iter("panel"):
            for pane in panel.iter("split-pane"):
                if _parent_coord(pane, parents) == (0, 0) and pane.get(f"{{{ST}}}visible"):
                    return 1.0
    return 0.0


def _coord(text: str | None) -> tuple[int, int] | None:
    found = re.fullmatch(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)", text or "")
    return (int(found[1]), int(found[2])) if found else None


def _parent_coord(node: ET.Element, parents: dict[ET.Element, ET.Element]) -> tuple[int, int] | None:
    """OSWorld's tree gives `cp:parentcoord`; ours gives screen positions, so the offset is worked out."""
    given = node.get(f"{{{CP}}}parentcoord")
    if given is not None:
        return _coord(given)
    parent = parents.get(node)
    mine = _coord(node.get(f"{{{CP}}}screencoord"))
    theirs = _coord(parent.get(f"{{{CP}}}screencoord")) if parent is not None else None
    if mine is None or theirs is None:
        return None
    return (mine[0] - theirs[0], mine[1] - theirs[1])


def _deck_copy(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    deck = config["ppt_file_path"]
    copied = vm_file(ctx, {"path": deck, "dest": PurePosixPath(deck).name})
    return copied if isinstance(copied, str) else None


def _slide_rels(deck: zipfile.ZipFile, index: int) -> list[ET.Element]:
    name = f"ppt/slides/_rels/slide{index + 1}.xml.rels"
    if name not in deck.namelist():
        return []
    return ET.fromstring(deck.read(name)).findall(f"{{{PKG_REL}}}Relationship")


def _fetch_target(ctx: GetterContext, deck: zipfile.ZipFile, target: str, dest: str) -> str | None:
    """A part of the deck, or a linked file from the task computer; other targets fail, as in OSWorld."""
    if target.startswith(".."):
        member = posixpath.normpath(posixpath.join("ppt/slides", target))
        if member.startswith(("../", "/")) or member not in deck.namelist():
            return None
        local = ctx.files / member
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(deck.read(member))
        return str(local)
    if target.startswith("file://"):
        copied = vm_file(ctx, {"path": unquote(target[len("file://") :]), "dest": dest})
        return copied if isinstance(copied, str) else None
    return None


def audio_in_slide(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """The sound inserted on slide `slide_index` (0-based): the first audio relationship's file."""
    local = _deck_copy(ctx, config)
    if local is None:
        return None
    try:
        with zipfile.ZipFile(local) as deck:
            rels = _slide_rels(deck, int(config["slide_index"]))
            audio = next((r for r in rels if "audio" in r.get("Type", "")), None)
            target = audio.get("Target", "") if audio is not None else ""
            return _fetch_target(ctx, deck, target, config["dest"]) if target else None
    except (zipfile.BadZipFile, ET.ParseError) as error:
        logger.warning("audio_in_slide: %s", error)
        return None


def background_image_in_slide(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """The picture slide `slide_index` (0-based) has as its own background."""
    local = _deck_copy(ctx, config)
    if local is None:
        return None
    index = int(config["slide_index"])
    try:
        with zipfile.ZipFile(local) as deck:
            name = f"ppt/slides/slide{index + 1}.xml"
            if name not in deck.namelist():
                return None
            image_id = _background_image_id(ET.fromstring(deck.read(name)))
            rels = _slide_rels(deck, index) if image_id is not None else []
            rel = next((r for r in rels if "image" in r.get("Type", "") and r.get("Id") == image_id), None)
            target = rel.get("Target", "") if rel is not None else ""
            return _fetch_target(ctx, deck, target, config["dest"]) if target else None
    except (zipfile.BadZipFile, ET.ParseError) as error:
        logger.warning("background_image_in_slide: %s", error)
        return None


def _background_image_id(slide: ET.Element) -> str | None:
    """The relationship id of the first background whose (first) picture is embedded in the deck."""
    for background in slide.iter(f"{{{P}}}bgPr"):
        blip = next(background.iter(f"{{{A}}}blip"), None)
        if blip is not None and f"{{{R}}}embed" in blip.attrib:
            return blip.get(f"{{{R}}}embed")
    return None


METRICS: dict[str, Metric] = {
    "compare_pptx_files": compare_pptx_files,
    "check_image_stretch_and_center": check_image_stretch_and_center,
    "check_left_panel": check_left_panel,
    "check_presenter_console_disable": check_presenter_console_disable,
    "check_slide_orientation_Portrait": check_slide_orientation_Portrait,
    "evaluate_presentation_fill_to_rgb_distance": evaluate_presentation_fill_to_rgb_distance,
    "check_transition": check_transition,
    "check_page_number_colors": check_page_number_colors,
    "check_auto_saving_time": check_auto_saving_time,
}
GETTERS: dict[str, Getter] = {
    "audio_in_slide": audio_in_slide,
    "background_image_in_slide": background_image_in_slide,
}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = {"compare_pptx_files": _pptx_option_gaps}
