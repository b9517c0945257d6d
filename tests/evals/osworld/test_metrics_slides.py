"""The presentation metrics and getters on decks the tests build, once where each holds and once where not."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.dml import MSO_THEME_COLOR
from pptx.enum.text import PP_ALIGN
from pptx.util import Emu, Inches, Pt

from aios.evals.osworld.catalog import GETTERS, METRICS, option_gaps
from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import CommandResult
from aios.evals.osworld.metrics_slides import (
    audio_in_slide,
    background_image_in_slide,
    check_auto_saving_time,
    check_image_stretch_and_center,
    check_left_panel,
    check_page_number_colors,
    check_presenter_console_disable,
    check_slide_orientation_Portrait,
    check_transition,
    evaluate_presentation_fill_to_rgb_distance,
)
from aios.evals.osworld.pptx_compare import compare_pptx_files

Tweak = Callable[[Any], None]
SHIFT_TEXT = "Elaborate on what you want to discuss."
P_NS = "http://schemas.openxmlformats.org/presentationml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def picture_file(folder: Path, color: str = "red") -> Path:
    path = folder / f"{color}.png"
    if not path.exists():
        Image.new("RGB", (40, 30), color).save(path)
    return path


def build_deck(path: Path, tweak: Tweak | None = None, *, slides: int = 3) -> str:
    """Slide 1: a title and a two-point text box with notes; 2: a picture and a text box; 3: a table."""
    deck = Presentation()
    blank = deck.slide_layouts[6]
    first = deck.slides.add_slide(blank)
    first.shapes.add_textbox(
        Inches(1), Inches(1), Inches(6), Inches(1)
    ).text_frame.text = "Product Comparison"
    body = first.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(2)).text_frame
    body.text = "First point"
    body.add_paragraph().text = "Second point"
    for para in body.paragraphs:
        para.runs[0].font.size = Pt(18)
    first.notes_slide.notes_text_frame.text = "speaker notes"
    if slides >= 2:
        second = deck.slides.add_slide(blank)
        second.shapes.add_picture(str(picture_file(path.parent)), Inches(1), Inches(3), Inches(2), Inches(2))
        second.shapes.add_textbox(Inches(4), Inches(1), Inches(5), Inches(1)).text_frame.text = SHIFT_TEXT
    if slides >= 3:
        third = deck.slides.add_slide(blank)
        table = third.shapes.add_table(2, 2, Inches(1), Inches(1), Inches(6), Inches(1.5)).table
        table.cell(0, 0).text = "Model"
    if tweak is not None:
        tweak(deck)
    deck.save(path)
    return str(path)


def shape(deck: Any, slide: int, index: int) -> Any:
    return deck.slides[slide].shapes[index]


def rewrite_part(
    path: str, name: str, change: Callable[[str], str], extra: dict[str, bytes] | None = None
) -> str:
    """Rewrite one part of a saved deck as text (and add parts), where python-pptx has no API for it."""
    source = Path(path)
    parts = {}
    with zipfile.ZipFile(source) as deck:
        for item in deck.namelist():
            parts[item] = deck.read(item)
    parts[name] = change(parts.get(name, b"").decode()).encode()
    parts.update(extra or {})
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as deck:
        for item, data in parts.items():
            deck.writestr(item, data)
    return path


def pair(tmp_path: Path, tweak: Tweak | None, **kwargs: Any) -> tuple[str, str]:
    """(result deck with the tweak, expected deck without it)."""
    return build_deck(tmp_path / "result.pptx", tweak, **kwargs), build_deck(tmp_path / "expected.pptx")


def test_registered() -> None:
    for name in (
        "compare_pptx_files",
        "check_image_stretch_and_center",
        "check_left_panel",
        "check_presenter_console_disable",
        "check_slide_orientation_Portrait",
        "evaluate_presentation_fill_to_rgb_distance",
        "check_transition",
        "check_page_number_colors",
        "check_auto_saving_time",
    ):
        assert name in METRICS
    assert {"audio_in_slide", "background_image_in_slide"} <= set(GETTERS)


def test_compare_pptx_identical_and_missing(tmp_path: Path) -> None:
    result, expected = pair(tmp_path, None)
    assert compare_pptx_files(result, expected) == 1.0
    assert compare_pptx_files(None, expected) == 0.0
    assert compare_pptx_files(str(tmp_path / "absent.pptx"), expected) == 0.0
    (tmp_path / "junk.pptx").write_text("not a deck")
    assert compare_pptx_files(str(tmp_path / "junk.pptx"), expected) == 0.0


def _text(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[1].runs[0].text = "Third point"


def _move(deck: Any) -> None:
    shape(deck, 0, 1).left = Inches(2)


def _bold(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.bold = True


def _size(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.size = Pt(24)


def _name(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.name = "Arial"


def _italic(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.italic = True


def _underline(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.underline = True


def _strike(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font._element.set("strike", "sngStrike")


def _colored(rgb: RGBColor) -> Tweak:
    def tweak(deck: Any) -> None:
        shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.color.rgb = rgb

    return tweak


def _align(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[0].alignment = PP_ALIGN.CENTER


def _indent(deck: Any) -> None:
    shape(deck, 0, 1).text_frame.paragraphs[1].level = 1


def _notes(deck: Any) -> None:
    deck.slides[0].notes_slide.notes_text_frame.text = "other notes"


def _bullet(deck: Any) -> None:
    props = shape(deck, 0, 1).text_frame.paragraphs[0]._p.get_or_add_pPr()
    bullet = props.makeelement(f"{{{A_NS}}}buChar", {"char": "•"})
    props.append(bullet)


@pytest.mark.parametrize(
    ("tweak", "options"),
    [
        (_text, "examine_text examine_bullets"),
        (_move, "examine_shape"),
        (_bold, "examine_font_bold"),
        (_size, "examine_font_size"),
        (_name, "examine_font_name"),
        (_italic, "examine_font_italic"),
        (_underline, "examine_font_underline"),
        (_strike, "examine_strike_through"),
        (_align, "examine_alignment examine_bullets"),
        (_indent, "examine_indent examine_bullets"),
        (_notes, "examine_note"),
        (_bullet, "examine_bullets"),
    ],
)
def test_compare_pptx_each_examined_property(tmp_path: Path, tweak: Tweak, options: str) -> None:
    """Each change fails the default comparison and passes once the options that see it are off (a new
    paragraph property also changes the bullet list, which looks at every paragraph's properties)."""
    result, expected = pair(tmp_path, tweak)
    assert compare_pptx_files(result, expected) == 0.0
    assert compare_pptx_files(result, expected, **dict.fromkeys(options.split(), False)) == 1.0


def test_compare_pptx_colour_only_between_rgb_colours(tmp_path: Path) -> None:
    def theme(deck: Any) -> None:
        shape(deck, 0, 1).text_frame.paragraphs[0].runs[0].font.color.theme_color = MSO_THEME_COLOR.ACCENT_1

    red = build_deck(tmp_path / "red.pptx", _colored(RGBColor(255, 0, 0)))
    blue = build_deck(tmp_path / "blue.pptx", _colored(RGBColor(0, 0, 255)))
    assert compare_pptx_files(red, blue) == 0.0
    assert compare_pptx_files(red, blue, examine_color_rgb=False) == 1.0
    assert compare_pptx_files(red, build_deck(tmp_path / "expected.pptx")) == 1.0
    assert compare_pptx_files(red, build_deck(tmp_path / "theme.pptx", theme)) == 1.0


def test_compare_pptx_misspelt_alignment_option_changes_nothing(tmp_path: Path) -> None:
    result, expected = pair(tmp_path, _align)
    assert compare_pptx_files(result, expected, examine_aligment=False) == 0.0


def test_compare_pptx_slide_count(tmp_path: Path) -> None:
    result = build_deck(tmp_path / "short.pptx", slides=2)
    expected = build_deck(tmp_path / "expected.pptx")
    assert compare_pptx_files(result, expected) == 0.0
    assert compare_pptx_files(result, expected, examine_number_of_slides=False) == 1.0


def test_compare_pptx_title_moved_down(tmp_path: Path) -> None:
    def lowered(deck: Any) -> None:
        shape(deck, 0, 0).top = Inches(5)

    options = {"examine_shape": False, "examine_title_bottom_position": True}
    result, expected = pair(tmp_path, lowered)
    assert compare_pptx_files(result, expected, **options) == 1.0
    assert compare_pptx_files(expected, expected, **options) == 0.0

    def same_text_moved(deck: Any) -> None:
        lowered(deck)
        _move(deck)

    assert compare_pptx_files(build_deck(tmp_path / "m.pptx", same_text_moved), expected, **options) == 1.0

    def picture_moved(deck: Any) -> None:
        lowered(deck)
        shape(deck, 1, 0).left = Inches(3)

    assert compare_pptx_files(build_deck(tmp_path / "p.pptx", picture_moved), expected, **options) == 0.0


def test_compare_pptx_table_moved_down(tmp_path: Path) -> None:
    def lowered(deck: Any) -> None:
        shape(deck, 2, 0).top = Inches(5)

    options = {"examine_shape": False, "examine_table_bottom_position": True}
    result, expected = pair(tmp_path, lowered)
    assert compare_pptx_files(result, expected, **options) == 1.0
    assert compare_pptx_files(expected, expected, **options) == 0.0


def test_compare_pptx_picture_moved_right(tmp_path: Path) -> None:
    def right(deck: Any) -> None:
        shape(deck, 1, 0).left = Inches(6)

    options = {"examine_shape": False, "examine_right_position": True}
    result, expected = pair(tmp_path, right)
    assert compare_pptx_files(result, expected, **options) == 1.0
    assert compare_pptx_files(expected, expected, **options) == 0.0


def test_compare_pptx_picture_moved_up(tmp_path: Path) -> None:
    def up(deck: Any) -> None:
        shape(deck, 1, 0).top = Inches(0.5)

    options = {"examine_shape": False, "examine_top_position": True}
    result, expected = pair(tmp_path, up)
    assert compare_pptx_files(result, expected, **options) == 1.0
    assert compare_pptx_files(expected, expected, **options) == 0.0


def test_compare_pptx_shift_size_exempts_one_text(tmp_path: Path) -> None:
    def grown(deck: Any) -> None:
        shape(deck, 1, 1).width = Inches(6)

    options = {"examine_shape": False, "examine_shape_for_shift_size": True}
    result, expected = pair(tmp_path, grown)
    assert compare_pptx_files(result, expected, **options) == 1.0
    assert compare_pptx_files(build_deck(tmp_path / "moved.pptx", _move), expected, **options) == 0.0


def test_compare_pptx_image_size(tmp_path: Path) -> None:
    def shifted(deck: Any) -> None:
        shape(deck, 1, 0).left = Inches(2)

    def resized(deck: Any) -> None:
        shape(deck, 1, 0).width = Inches(3)

    options = {"examine_shape": False, "examine_image_size": True}
    expected = build_deck(tmp_path / "expected.pptx")
    assert compare_pptx_files(build_deck(tmp_path / "a.pptx", shifted), expected, **options) == 1.0
    assert compare_pptx_files(build_deck(tmp_path / "b.pptx", resized), expected, **options) == 0.0


def test_compare_pptx_modify_height(tmp_path: Path) -> None:
    def widened(deck: Any) -> None:
        shape(deck, 1, 0).width = Inches(3)

    def taller(deck: Any) -> None:
        shape(deck, 1, 0).height = Inches(3)

    options = {"examine_shape": False, "examine_modify_height": True}
    expected = build_deck(tmp_path / "expected.pptx")
    assert compare_pptx_files(build_deck(tmp_path / "a.pptx", widened), expected, **options) == 1.0
    assert compare_pptx_files(build_deck(tmp_path / "b.pptx", taller), expected, **options) == 0.0


def test_compare_pptx_option_gaps() -> None:
    assert option_gaps("compare_pptx_files", {"examine_shape": False, "examine_aligment": False}) == []
    assert option_gaps("compare_pptx_files", {"examine_sparkle": True}) == [
        "compare_pptx_files:examine_sparkle"
    ]


def _pictures(folder: Path, stretched: str | None) -> Tweak:
    """A blue and a red picture on slide 1, small, or the one named filling the slide."""

    def tweak(deck: Any) -> None:
        for color in ("blue", "red"):
            picture = deck.slides[0].shapes.add_picture(
                str(picture_file(folder, color)), Inches(1), Inches(1)
            )
            if color == stretched:
                picture.left, picture.top = Emu(0), Emu(0)
                picture.width, picture.height = deck.slide_width, deck.slide_height

    return tweak


def test_image_stretch_and_center(tmp_path: Path) -> None:
    def original_deck(deck: Any) -> None:
        deck.slides[0].shapes.add_picture(str(picture_file(tmp_path, "red")), Inches(1), Inches(1))

    original = build_deck(tmp_path / "original.pptx", original_deck, slides=1)
    modified = build_deck(tmp_path / "modified.pptx", _pictures(tmp_path, "red"), slides=1)
    wrong = build_deck(tmp_path / "wrong.pptx", _pictures(tmp_path, "blue"), slides=1)
    assert check_image_stretch_and_center(modified, original) == 1.0
    assert check_image_stretch_and_center(wrong, original) == 0.0
    assert check_image_stretch_and_center(original, original) == 0.0
    assert check_image_stretch_and_center(None, original) == 0.0
    no_picture = build_deck(tmp_path / "plain.pptx", slides=1)
    assert check_image_stretch_and_center(modified, no_picture) == 0.0


def test_slide_orientation(tmp_path: Path) -> None:
    def portrait(deck: Any) -> None:
        deck.slide_width, deck.slide_height = Inches(7.5), Inches(10)

    assert check_slide_orientation_Portrait(build_deck(tmp_path / "p.pptx", portrait, slides=1)) == 1.0
    assert check_slide_orientation_Portrait(build_deck(tmp_path / "l.pptx", slides=1)) == 0.0
    assert check_slide_orientation_Portrait(None) == 0.0


def _background(color: RGBColor | None, master: RGBColor | None = None) -> Tweak:
    def tweak(deck: Any) -> None:
        for slide in deck.slides:
            if color is not None:
                slide.background.fill.solid()
                slide.background.fill.fore_color.rgb = color
        if master is not None:
            deck.slide_masters[0].background.fill.solid()
            deck.slide_masters[0].background.fill.fore_color.rgb = master

    return tweak


def test_fill_to_rgb_distance(tmp_path: Path) -> None:
    rules = {"rgb": [0, 0, 255]}
    blue = build_deck(tmp_path / "blue.pptx", _background(RGBColor(0, 0, 255)))
    assert evaluate_presentation_fill_to_rgb_distance(blue, rules) == 1.0
    via_master = build_deck(tmp_path / "master.pptx", _background(None, RGBColor(0, 0, 255)))
    assert evaluate_presentation_fill_to_rgb_distance(via_master, rules) == 1.0
    red = build_deck(tmp_path / "red.pptx", _background(RGBColor(255, 0, 0)))
    assert evaluate_presentation_fill_to_rgb_distance(red, rules) == pytest.approx(1 - (2 / 3) ** 0.5)
    assert evaluate_presentation_fill_to_rgb_distance(build_deck(tmp_path / "none.pptx"), rules) == 0.0
    assert evaluate_presentation_fill_to_rgb_distance(None, rules) == 0.0


def _with_transition(path: str, kind: str) -> str:
    element = f'<p:transition spd="slow"><p:{kind}/></p:transition>'
    return rewrite_part(
        path, "ppt/slides/slide1.xml", lambda xml: xml.replace("</p:sld>", element + "</p:sld>")
    )


def test_transition(tmp_path: Path) -> None:
    rules = {"slide_idx": 0, "transition_type": "dissolve"}
    assert (
        check_transition(_with_transition(build_deck(tmp_path / "d.pptx", slides=1), "dissolve"), rules) == 1
    )
    assert check_transition(_with_transition(build_deck(tmp_path / "f.pptx", slides=1), "fade"), rules) == 0
    assert check_transition(build_deck(tmp_path / "n.pptx", slides=1), rules) == 0
    assert check_transition(build_deck(tmp_path / "s.pptx", slides=1), {**rules, "slide_idx": 4}) == 0
    assert check_transition(None, rules) == 0


def _master_colors(path: str, colors: list[str]) -> str:
    fills = "".join(f'<a:solidFill><a:srgbClr val="{c}"/></a:solidFill>' for c in colors)
    marker = f'<p:sldMaster xmlns:a="{A_NS}" xmlns:p="{P_NS}"><p:cSld>{fills}</p:cSld></p:sldMaster>'
    return rewrite_part(path, "ppt/slideMasters/slideMaster1.xml", lambda _: marker)


def test_page_number_colors(tmp_path: Path) -> None:
    def deck(name: str, colors: list[str]) -> str:
        return _master_colors(build_deck(tmp_path / name, slides=1), colors)

    red = {"color": "red"}
    assert check_page_number_colors(deck("r.pptx", ["000000", "C9211E", "FFFFFF"]), red) == 1.0
    assert check_page_number_colors(deck("b.pptx", ["000000", "2A6099", "FFFFFF"]), red) == 0.0
    assert check_page_number_colors(deck("b.pptx", ["000000", "2A6099", "FFFFFF"]), {"color": "blue"}) == 1.0
    assert check_page_number_colors(deck("one.pptx", ["FF0000"]), red) == 0.0
    assert check_page_number_colors(None, red) == 0.0


def _xcu(tmp_path: Path, items: str) -> str:
    path = tmp_path / "registrymodifications.xcu"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema">\n' + items + "\n</oor:items>\n"
    )
    return str(path)


def _setting(path: str, name: str, value: str) -> str:
    return (
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop></item>'
    )


PRESENTER = "/org.openoffice.Office.Impress/Misc/Start"
SAVE = "/org.openoffice.Office.Common/Save/Document"


def test_presenter_console(tmp_path: Path) -> None:
    assert (
        check_presenter_console_disable(_xcu(tmp_path, _setting(PRESENTER, "EnablePresenterScreen", "false")))
        == 1
    )
    assert (
        check_presenter_console_disable(_xcu(tmp_path, _setting(PRESENTER, "EnablePresenterScreen", "true")))
        == 0
    )
    assert (
        check_presenter_console_disable(_xcu(tmp_path, _setting(SAVE, "EnablePresenterScreen", "false"))) == 0
    )
    assert check_presenter_console_disable(None) == 0
    (tmp_path / "bad.xcu").write_text("<oor:items")
    assert check_presenter_console_disable(str(tmp_path / "bad.xcu")) == 0


def test_auto_saving_time(tmp_path: Path) -> None:
    rules = {"minutes": 3}
    assert check_auto_saving_time(_xcu(tmp_path, _setting(SAVE, "AutoSaveTimeIntervall", "3")), rules) == 1
    assert check_auto_saving_time(_xcu(tmp_path, _setting(SAVE, "AutoSaveTimeIntervall", "10")), rules) == 0
    later = _setting(SAVE, "AutoSaveTimeIntervall", "3") + _setting(SAVE, "AutoSaveTimeIntervall", "5")
    assert check_auto_saving_time(_xcu(tmp_path, later), rules) == 0
    assert check_auto_saving_time(_xcu(tmp_path, _setting(SAVE, "AutoSave", "true")), rules) == 0
    assert check_auto_saving_time(None, rules) == 0


def _tree(pane_attrs: str, *, panel: bool = True) -> str:
    inner = f"<split-pane {pane_attrs}/>"
    if panel:
        inner = f'<panel cp:screencoord="(0, 60)">{inner}</panel>'
    return (
        '<desktop-frame xmlns:st="uri:deskat:state.at-spi.gnome.org" '
        'xmlns:cp="uri:deskat:component.at-spi.gnome.org"><frame><root-pane>'
        f"{inner}</root-pane></frame></desktop-frame>"
    )


def test_left_panel() -> None:
    assert check_left_panel(_tree('cp:parentcoord="(0, 0)" st:visible="true"')) == 1.0
    assert check_left_panel(_tree('cp:screencoord="(0, 60)" st:visible="true"')) == 1.0
    assert check_left_panel(_tree('cp:screencoord="(240, 60)" st:visible="true"')) == 0.0
    assert check_left_panel(_tree('cp:parentcoord="(0, 0)"')) == 0.0
    assert check_left_panel(_tree('cp:parentcoord="(0, 0)" st:visible="true"', panel=False)) == 0.0
    assert check_left_panel("") == 0.0
    assert check_left_panel("<unclosed") == 0.0


@dataclass
class FakeGuest:
    files: dict[str, bytes] = field(default_factory=dict)

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)

    def run(self, command: Any, *, shell: bool = False, timeout_s: float | None = None) -> CommandResult:
        return CommandResult(1, "", "not here")


def _ctx(tmp_path: Path, files: dict[str, bytes]) -> GetterContext:
    out = tmp_path / "files"
    out.mkdir(exist_ok=True)

    def nothing() -> Any:
        raise AssertionError("not used")

    return GetterContext(FakeGuest(files), out, None, nothing, nothing, nothing)


DECK = "/home/user/Desktop/talk.pptx"
AUDIO_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/audio"
IMAGE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"


def _add_rel(path: str, rel: str) -> str:
    return rewrite_part(
        path,
        "ppt/slides/_rels/slide1.xml.rels",
        lambda xml: xml.replace("</Relationships>", rel + "</Relationships>"),
    )


def test_audio_in_slide_embedded_and_linked(tmp_path: Path) -> None:
    embedded = build_deck(tmp_path / "embedded.pptx", slides=1)
    _add_rel(embedded, f'<Relationship Id="rId90" Type="{AUDIO_REL}" Target="../media/media9.mp3"/>')
    rewrite_part(embedded, "ppt/media/media9.mp3", lambda _: "ID3 sound")
    config = {"ppt_file_path": DECK, "slide_index": 0, "dest": "Baseball.mp3"}
    found = audio_in_slide(_ctx(tmp_path, {DECK: Path(embedded).read_bytes()}), config)
    assert found is not None and Path(found).read_bytes() == b"ID3 sound"

    linked = build_deck(tmp_path / "linked.pptx", slides=1)
    target = "file:///home/user/Desktop/My%20Sound.mp3"
    _add_rel(linked, f'<Relationship Id="rId90" Type="{AUDIO_REL}" Target="{target}" TargetMode="External"/>')
    files = {DECK: Path(linked).read_bytes(), "/home/user/Desktop/My Sound.mp3": b"linked sound"}
    found = audio_in_slide(_ctx(tmp_path, files), config)
    assert found is not None and Path(found).name == "Baseball.mp3"
    assert Path(found).read_bytes() == b"linked sound"


def test_audio_in_slide_absent(tmp_path: Path) -> None:
    plain = build_deck(tmp_path / "plain.pptx", slides=1)
    config = {"ppt_file_path": DECK, "slide_index": 0, "dest": "Baseball.mp3"}
    assert audio_in_slide(_ctx(tmp_path, {DECK: Path(plain).read_bytes()}), config) is None
    assert audio_in_slide(_ctx(tmp_path, {}), config) is None


def _with_background(path: str, rel_id: str) -> str:
    background = (
        f'<p:bg><p:bgPr><a:blipFill><a:blip r:embed="{rel_id}"/><a:stretch/></a:blipFill>'
        "<a:effectLst/></p:bgPr></p:bg>"
    )
    return rewrite_part(
        path, "ppt/slides/slide1.xml", lambda xml: xml.replace("<p:cSld>", "<p:cSld>" + background)
    )


def test_background_image_in_slide(tmp_path: Path) -> None:
    deck = build_deck(tmp_path / "bg.pptx", slides=1)
    _with_background(deck, "rId91")
    _add_rel(deck, f'<Relationship Id="rId91" Type="{IMAGE_REL}" Target="../media/landscape.png"/>')
    rewrite_part(deck, "ppt/media/landscape.png", lambda _: "PNG bytes")
    config = {"ppt_file_path": DECK, "slide_index": 0, "dest": "landscape.png"}
    found = background_image_in_slide(_ctx(tmp_path, {DECK: Path(deck).read_bytes()}), config)
    assert found is not None and Path(found).read_bytes() == b"PNG bytes"
    plain = build_deck(tmp_path / "plain.pptx", slides=1)
    assert background_image_in_slide(_ctx(tmp_path, {DECK: Path(plain).read_bytes()}), config) is None
    assert (
        background_image_in_slide(
            _ctx(tmp_path, {DECK: Path(deck).read_bytes()}), {**config, "slide_index": 3}
        )
        is None
    )
    assert background_image_in_slide(_ctx(tmp_path, {}), config) is None


def test_getter_refuses_a_path_out_of_the_deck(tmp_path: Path) -> None:
    deck = build_deck(tmp_path / "evil.pptx", slides=1)
    _add_rel(deck, f'<Relationship Id="rId90" Type="{AUDIO_REL}" Target="../../../../etc/passwd"/>')
    config = {"ppt_file_path": DECK, "slide_index": 0, "dest": "x.mp3"}
    assert audio_in_slide(_ctx(tmp_path, {DECK: Path(deck).read_bytes()}), config) is None
