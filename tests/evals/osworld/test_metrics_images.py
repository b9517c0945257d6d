"""Image metrics on pictures the tests draw: each once where it holds and once where it does not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance
from scipy.ndimage import gaussian_filter

from aios.evals.osworld import metrics_images as mi


def _photo(seed: int, width: int = 160, height: int = 120) -> Image.Image:
    """A smooth random picture with two shapes: enough structure for SSIM to mean something."""
    rng = np.random.default_rng(seed)
    smooth = gaussian_filter(rng.random((height, width, 3)), sigma=(6, 6, 0))
    scaled = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 225 + 15
    image = Image.fromarray(scaled.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle([width // 5, height // 5, width // 2, height // 2], fill=(200, 40, 40))
    draw.ellipse([width // 2, height // 3, width - 8, height - 8], fill=(30, 60, 190))
    return image


def _save(tmp_path: Path, image: Image.Image, name: str) -> str:
    path = tmp_path / name
    image.save(path)
    return str(path)


@pytest.fixture
def original(tmp_path: Path) -> str:
    return _save(tmp_path, _photo(1), "original.png")


@pytest.fixture
def unrelated(tmp_path: Path) -> str:
    return _save(tmp_path, _photo(2), "unrelated.png")


def test_ssim_matches_known_properties() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    assert mi.ssim(noise, noise) == pytest.approx(1.0)
    assert mi.ssim(noise, 255 - noise) < 0
    assert mi.ssim(np.dstack([noise] * 3), np.dstack([noise] * 3), channel_axis=-1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        mi.ssim(noise, noise[:, :-1])
    with pytest.raises(ValueError, match="under 7"):
        mi.ssim(noise[:6], noise[:6])
    with pytest.raises(ValueError, match="floating"):
        mi.ssim(noise.astype(np.float32), noise.astype(np.float32))


def test_ssim_reference_value() -> None:
    """A value scikit-image 0.26 gives for this pair, so a drift in the window or constants shows."""
    ramp = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (12, 1))
    shifted = np.roll(ramp, 1, axis=1)
    assert mi.ssim(ramp, shifted) == pytest.approx(0.9055720, abs=1e-6)


def test_brightness_decrease(tmp_path: Path, original: str, unrelated: str) -> None:
    photo = Image.open(original)
    darker = _save(tmp_path, ImageEnhance.Brightness(photo).enhance(0.6), "darker.png")
    brighter = _save(tmp_path, ImageEnhance.Brightness(photo).enhance(1.3), "brighter.png")
    other_darker = _save(tmp_path, ImageEnhance.Brightness(Image.open(unrelated)).enhance(0.6), "other.png")
    check = mi.check_brightness_decrease_and_structure_sim
    assert check(darker, original) == 1.0
    assert check(brighter, original) == 0.0
    assert check(other_darker, original) == 0.0
    assert check(None, original) == 0.0


def test_brightness_of_black_picture_scores_zero(tmp_path: Path) -> None:
    black = _save(tmp_path, Image.new("RGB", (20, 20)), "black.png")
    assert mi.check_brightness_decrease_and_structure_sim(black, black) == 0.0


def test_saturation_increase(tmp_path: Path, original: str, unrelated: str) -> None:
    photo = Image.open(original)
    vivid = _save(tmp_path, ImageEnhance.Color(photo).enhance(1.6), "vivid.png")
    dull = _save(tmp_path, ImageEnhance.Color(photo).enhance(0.5), "dull.png")
    other = _save(tmp_path, ImageEnhance.Color(Image.open(unrelated)).enhance(1.6), "other.png")
    check = mi.check_saturation_increase_and_structure_sim
    assert check(vivid, original) == 1.0
    assert check(dull, original) == 0.0
    assert check(other, original) == 0.0
    assert check(vivid) == 0.0


def test_file_exists_and_structure(tmp_path: Path, original: str, unrelated: str) -> None:
    jpeg = _save(tmp_path, Image.open(original), "export.jpg")
    check = mi.check_file_exists_and_structure_sim
    assert check(jpeg, original) == 1.0
    assert check(unrelated, original) == 0.0
    assert check(str(tmp_path / "missing.jpg"), original) == 0.0


def _triangle(tmp_path: Path, name: str, centre: tuple[int, int], marker: bool) -> str:
    image = Image.new("RGB", (200, 160), "white")
    draw = ImageDraw.Draw(image)
    x, y = centre
    draw.polygon([(x - 30, y + 25), (x + 30, y + 25), (x, y - 25)], fill=(250, 220, 0))
    if marker:
        draw.rectangle([5, 5, 12, 12], fill=(0, 0, 255))
    return _save(tmp_path, image, name)


def test_triangle_position(tmp_path: Path) -> None:
    """With a third, rarer colour OSWorld's pick is the triangle itself."""
    assert mi.check_triangle_position(_triangle(tmp_path, "mid.png", (100, 80), marker=True)) == 0.0
    two_colours_off_centre = _triangle(tmp_path, "corner.png", (40, 35), marker=False)
    assert mi.check_triangle_position(two_colours_off_centre) == 1.0
    assert mi.check_triangle_position(_save(tmp_path, Image.new("RGB", (20, 20)), "flat.png")) == 0.0


def test_triangle_position_rarer_colour_centred(tmp_path: Path) -> None:
    image = Image.new("RGB", (200, 160), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([90, 70, 110, 90], fill=(250, 220, 0))
    draw.rectangle([0, 0, 1, 1], fill=(0, 0, 255))
    assert mi.check_triangle_position(_save(tmp_path, image, "centred.png")) == 1.0
    draw.rectangle([90, 70, 110, 90], fill="white")
    draw.rectangle([5, 5, 25, 25], fill=(250, 220, 0))
    assert mi.check_triangle_position(_save(tmp_path, image, "moved.png")) == 0.0


GIMPRC = '# GIMP gimprc\n\n(undo-levels 100)\n   \n(theme "Light")\n(history-item "filters-vignette" 1)\n'


def test_config_status(tmp_path: Path) -> None:
    path = tmp_path / "gimprc"
    path.write_text(GIMPRC)
    check = mi.check_config_status
    assert check(str(path), {"key": "undo-levels", "value": "100"}) == 1.0
    assert check(str(path), {"key": "undo-levels", "value": "50"}) == 0.0
    assert check(str(path), {"key": "theme", "value": '"Light"'}) == 1.0
    assert check(str(path), {"key": "theme", "value": "Light"}) == 0.0
    assert check(str(path), {"key": ["history-item", '"filters-vignette"'], "value": "1"}) == 1.0
    assert check(str(path), {"key": ["history-item", '"image-flip"'], "value": "1"}) == 0.0
    assert check(None, {"key": "theme", "value": '"Light"'}) == 0.0


def test_structure_sim(tmp_path: Path, original: str, unrelated: str) -> None:
    assert mi.check_structure_sim(original, original) == 1.0
    assert mi.check_structure_sim(unrelated, original) == 0.0
    bigger = _save(tmp_path, _photo(1, 200, 150), "bigger.png")
    assert mi.check_structure_sim(bigger, original) == 0.0
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    assert mi.check_structure_sim(str(text), original) == 0.0


def test_image_size(original: str) -> None:
    assert mi.check_image_size(original, {"height": 120}) == 1.0
    assert mi.check_image_size(original, {"height": 120, "width": 160}) == 1.0
    assert mi.check_image_size(original, {"height": 128, "width": 128}) == 0.0
    assert mi.check_image_size(None, {"height": 120}) == 0.0


def test_structure_sim_resized(tmp_path: Path, original: str) -> None:
    big = _photo(3, 256, 192)
    big_path = _save(tmp_path, big, "big.png")
    half = _save(tmp_path, big.resize((128, 96)), "half.png")
    other = _save(tmp_path, _photo(4, 128, 96), "other.png")
    assert mi.check_structure_sim_resized(half, big_path) == 1.0
    assert mi.check_structure_sim_resized(other, big_path) == 0.0


def test_palette_and_structure(tmp_path: Path, original: str, unrelated: str) -> None:
    photo = Image.open(original)
    indexed = _save(tmp_path, photo.quantize(256), "indexed.png")
    other_indexed = _save(tmp_path, Image.open(unrelated).quantize(256), "other.png")
    assert mi.check_palette_and_structure_sim(indexed, original) == 1.0
    assert mi.check_palette_and_structure_sim(original, original) == 0.0
    assert mi.check_palette_and_structure_sim(other_indexed, original) == 0.0


def _text_at(tmp_path: Path, x: int) -> str:
    image = Image.new("RGB", (300, 100), "white")
    ImageDraw.Draw(image).text((x, 40), "Hello GIMP", fill="black")
    return _save(tmp_path, image, f"text{x}.png")


def test_textbox_on_leftside(tmp_path: Path) -> None:
    assert mi.check_textbox_on_leftside(_text_at(tmp_path, 5)) == 1.0
    assert mi.check_textbox_on_leftside(_text_at(tmp_path, 120)) == 0.0
    assert mi.check_textbox_on_leftside(_save(tmp_path, Image.new("RGB", (50, 50), "white"), "w.png")) == 0.0


def test_contrast_increase(tmp_path: Path, original: str, unrelated: str) -> None:
    photo = Image.open(original)
    punchy = _save(tmp_path, ImageEnhance.Contrast(photo).enhance(1.5), "punchy.png")
    flat = _save(tmp_path, ImageEnhance.Contrast(photo).enhance(0.6), "flat.png")
    other = _save(tmp_path, ImageEnhance.Contrast(Image.open(unrelated)).enhance(1.5), "other.png")
    check = mi.check_contrast_increase_and_structure_sim
    assert check(punchy, original) == 1.0
    assert check(flat, original) == 0.0
    assert check(other, original) == 0.0


def test_image_mirror(tmp_path: Path, original: str) -> None:
    photo = Image.open(original)
    mirrored = _save(tmp_path, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "mirror.png")
    upside_down = _save(tmp_path, photo.transpose(Image.Transpose.FLIP_TOP_BOTTOM), "flip.png")
    assert mi.check_image_mirror(mirrored, original) == 1.0
    assert mi.check_image_mirror(original, original) == 0.0
    assert mi.check_image_mirror(upside_down, original) == 0.0


def _object_on(tmp_path: Path, background: tuple[int, int, int], name: str, width: int = 60) -> str:
    image = Image.new("RGB", (width, 60), background)
    ImageDraw.Draw(image).ellipse([15, 15, 45, 45], fill=(0, 0, 0))
    return _save(tmp_path, image, name)


def test_green_background(tmp_path: Path) -> None:
    reference = _object_on(tmp_path, (255, 255, 255), "ref.png")
    assert mi.check_green_background(_object_on(tmp_path, (0, 200, 0), "g.png"), reference) == 1.0
    assert mi.check_green_background(_object_on(tmp_path, (200, 0, 0), "r.png"), reference) == 0.0
    assert mi.check_green_background(_object_on(tmp_path, (200, 200, 0), "y.png"), reference) == 0.0
    wide = _object_on(tmp_path, (0, 200, 0), "wide.png", width=90)
    assert mi.check_green_background(wide, reference) == 0.0


def test_compare_image_list(tmp_path: Path, original: str, unrelated: str) -> None:
    copy = _save(tmp_path, Image.open(original), "copy.png")
    assert mi.compare_image_list([original, unrelated], [copy, unrelated]) == 1.0
    assert mi.compare_image_list([original, original], [copy, unrelated]) == 0.0
    assert mi.compare_image_list(original, copy) == 1.0
    assert mi.compare_image_list([original, None], [copy, unrelated]) == 0.0


def test_image_file_size(original: str) -> None:
    assert mi.check_image_file_size(original, {"max_size": 600000}) == 1.0
    assert mi.check_image_file_size(original, {"max_size": 100}) == 0.0
    assert mi.check_image_file_size(None, {"max_size": 100}) == 0.0


def test_compare_images(tmp_path: Path, original: str, unrelated: str) -> None:
    assert mi.compare_images(original, original) == pytest.approx(1.0)
    bigger = _save(tmp_path, Image.open(original).resize((320, 240)), "bigger.png")
    assert mi.compare_images(bigger, original) > 0.9
    assert mi.compare_images(unrelated, original) < 0.9
    noise = np.random.default_rng(9).integers(0, 256, (40, 40), dtype=np.uint8)
    positive = _save(tmp_path, Image.fromarray(noise), "n.png")
    negative = _save(tmp_path, Image.fromarray(255 - noise), "neg.png")
    assert mi.compare_images(positive, negative) == 0.0
    assert mi.compare_images(None, original) == 0.0


def _ctx(tmp_path: Path, files: dict[str, bytes]) -> SimpleNamespace:
    guest = SimpleNamespace(read_file=files.get)
    return SimpleNamespace(guest=guest, files=tmp_path / "copies")


def test_gimp_config_file_copies_the_file(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"/home/user/.config/GIMP/2.10/gimprc": GIMPRC.encode()})
    path = mi.gimp_config_file(ctx, {"file_name": "gimprc", "dest": "gimprc"})  # type: ignore[arg-type]
    assert path is not None and Path(path).read_text() == GIMPRC
    assert mi.check_config_status(path, {"key": "undo-levels", "value": "100"}) == 1.0


def test_gimp_config_file_missing_or_empty_is_none(tmp_path: Path) -> None:
    empty = _ctx(tmp_path, {"/home/user/.config/GIMP/2.10/sessionrc": b""})
    assert mi.gimp_config_file(empty, {"file_name": "sessionrc", "dest": "sessionrc"}) is None  # type: ignore[arg-type]
    missing = _ctx(tmp_path, {})
    assert mi.gimp_config_file(missing, {"file_name": "gimprc", "dest": "gimprc"}) is None  # type: ignore[arg-type]


def test_registered_for_the_catalog() -> None:
    for name in ("check_structure_sim", "compare_images", "check_config_status", "compare_image_list"):
        assert mi.METRICS[name] is getattr(mi, name)
    assert mi.GETTERS["gimp_config_file"] is mi.gimp_config_file
    assert mi.OPTION_GAPS["check_structure_sim"]({}) == []
    assert mi.OPTION_GAPS["check_structure_sim"]({"threshold": 0.5}) == ["threshold"]
