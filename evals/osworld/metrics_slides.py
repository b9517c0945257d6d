"""OSWorld's Impress metrics besides deck comparison, and its getters: a picture's fit, slide orientation,
background colours, transitions, slide-number colours, Impress settings and the slide pane; sounds and
background pictures taken out of a slide."""

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
from aios.evals.osworld.pptx_deck import PICTURE, PKG_REL, A, P, R, open_deck

if TYPE_CHECKING:
    from pptx.presentation import Presentation as Deck
    from pptx.slide import Slide

logger = logging.getLogger(__name__)

OOR = "http://openoffice.org/2001/registry"
ST = "uri:deskat:state.at-spi.gnome.org"
CP = "uri:deskat:component.at-spi.gnome.org"

SOLID_FILL, BACKGROUND_FILL = 1, 5
"""python-pptx's MSO_FILL values: a solid colour, and 'no fill of its own' (the master's shows)."""
HALF_INCH = 457200
"""Half an inch in EMU: how far a stretched picture may miss the slide's size and centre."""


def check_image_stretch_and_center(modified: str | None, original: str | None) -> float:
    """The first slide's picture (found by its bytes) now fills the slide, centred, within half an inch."""
    if modified is None or original is None or not Path(modified).is_file():
        return 0.0
    try:
        return float(_stretched_and_centred(open_deck(original), open_deck(modified)))
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
        deck = open_deck(pptx_file)
        return float(deck.slide_width < deck.slide_height)
    except Exception as error:  # not a deck, or no slide size
        logger.warning("check_slide_orientation_Portrait: %s", error)
        return 0.0


def evaluate_presentation_fill_to_rgb_distance(pptx_file: str | None, rules: dict[str, Any]) -> float:
    """Partial credit by colour distance; a slide with no solid colour (own or master's) is farthest."""
    if pptx_file is None or not Path(pptx_file).is_file():
        return 0.0
    try:
        slides = list(open_deck(pptx_file).slides)
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
