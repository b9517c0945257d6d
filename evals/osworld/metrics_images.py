"""OSWorld's image metrics (GIMP tasks, pictures elsewhere): pictures compared as OSWorld does."""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageStat
from scipy.ndimage import uniform_filter

from aios.evals.osworld.getters import Getter, GetterContext
from aios.evals.osworld.guest import HOME
from aios.evals.osworld.metrics import Metric

log = logging.getLogger(__name__)

GIMP_CONFIG_DIR = PurePosixPath(HOME) / ".config" / "GIMP" / "2.10"
_WINDOW = 7
_K1, _K2 = 0.01, 0.03


def ssim(first: np.ndarray, second: np.ndarray, *, channel_axis: int | None = None) -> float:
    """Mean structural similarity with scikit-image's defaults, so OSWorld's thresholds keep their meaning."""
    if first.shape != second.shape:
        raise ValueError(f"images differ in shape: {first.shape} vs {second.shape}")
    if channel_axis is None:
        return _ssim_plane(first, second)
    count = first.shape[channel_axis]
    scores = [
        _ssim_plane(np.take(first, i, axis=channel_axis), np.take(second, i, axis=channel_axis))
        for i in range(count)
    ]
    return float(np.mean(scores))


def _data_range(first: np.ndarray, second: np.ndarray) -> float:
    """The value span of the first image's type, as scikit-image assumes when none is given."""
    if np.issubdtype(first.dtype, np.floating) or np.issubdtype(second.dtype, np.floating):
        raise ValueError("floating-point images have no implied data range")
    if first.dtype == np.bool_:
        return 1.0
    info = np.iinfo(first.dtype)
    return float(info.max) - float(info.min)


def _ssim_plane(first: np.ndarray, second: np.ndarray) -> float:
    """SSIM of one channel: 7-wide uniform windows, sample covariance, the border strip left out."""
    if any(side < _WINDOW for side in first.shape):
        raise ValueError(f"image side under {_WINDOW} pixels: {first.shape}")
    span = _data_range(first, second)
    x, y = first.astype(np.float64), second.astype(np.float64)
    samples = _WINDOW**x.ndim
    unbias = samples / (samples - 1)
    mean_x, mean_y = uniform_filter(x, size=_WINDOW), uniform_filter(y, size=_WINDOW)
    var_x = unbias * (uniform_filter(x * x, size=_WINDOW) - mean_x * mean_x)
    var_y = unbias * (uniform_filter(y * y, size=_WINDOW) - mean_y * mean_y)
    cov = unbias * (uniform_filter(x * y, size=_WINDOW) - mean_x * mean_y)
    c1, c2 = (_K1 * span) ** 2, (_K2 * span) ** 2
    numerator = (2 * mean_x * mean_y + c1) * (2 * cov + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    inner = tuple(slice(_WINDOW // 2, side - _WINDOW // 2) for side in x.shape)
    return float((numerator / denominator)[inner].mean(dtype=np.float64))


def _similar(first: Image.Image, second: Image.Image, threshold: float = 0.9) -> bool:
    """OSWorld's structure test: per-channel SSIM over the arrays' last axis, at least the threshold."""
    return ssim(np.array(first), np.array(second), channel_axis=-1) >= threshold


def _open(path: str | None) -> Image.Image:
    """The picture fully read, its file closed (a missing or broken file raises OSError)."""
    if not path:
        raise FileNotFoundError("no picture")
    with Image.open(path) as image:
        image.load()
        return image


def _zero_on_bad_input(func: Callable[..., float]) -> Callable[..., float]:
    """A missing, unreadable or mismatched picture fails the check instead of crashing the evaluation."""

    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> float:
        try:
            given = signature.bind(*args, **kwargs)
            given.apply_defaults()
            if any(value is None for value in given.arguments.values()):
                return 0.0
            return float(func(*args, **kwargs))
        except (OSError, ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
            log.warning("%s: %s", func.__name__, exc)
            return 0.0

    return wrapper


def _brightness(image: Image.Image) -> float:
    return float(ImageStat.Stat(image.convert("L")).mean[0])


def _scaled_to_brightness(image: Image.Image, target: float) -> Image.Image:
    """Every channel multiplied so the mean grey becomes the target: compares shapes, not exposure."""
    factor = target / _brightness(image)
    table = [min(255, max(0, int(value * factor))) for value in range(256)]
    return image.point(table * len(image.getbands()))


def _close_by_mse(first: Image.Image, second: Image.Image, threshold: float = 0.03) -> bool:
    a = np.array(first, dtype=np.float32) / 255
    b = np.array(second, dtype=np.float32) / 255
    return bool(np.mean((a - b) ** 2) < threshold)


@_zero_on_bad_input
def check_brightness_decrease_and_structure_sim(result: str, original: str | None = None) -> float:
    """The result is darker than the original yet the same picture once both are brought to one exposure."""
    edited, source = _open(result), _open(original)
    darker = _brightness(source) > _brightness(edited)
    same = _close_by_mse(_scaled_to_brightness(edited, 128), _scaled_to_brightness(source, 128))
    return float(darker and same)


@_zero_on_bad_input
def check_saturation_increase_and_structure_sim(result: str, original: str | None = None) -> float:
    """More saturated than the original, while hue and value keep their structure."""
    edited, source = _open(result).convert("HSV"), _open(original).convert("HSV")
    more = float(np.mean(np.array(edited.getchannel("S")))) > float(np.mean(np.array(source.getchannel("S"))))
    hue_kept = _similar(edited.getchannel("H"), source.getchannel("H"))
    value_kept = _similar(edited.getchannel("V"), source.getchannel("V"))
    return float(more and hue_kept and value_kept)


@_zero_on_bad_input
def check_file_exists_and_structure_sim(result: str, original: str | None = None) -> float:
    """The export exists and shows the original picture."""
    if not os.path.isfile(result):
        return 0.0
    return float(_similar(_open(result), _open(original)))


@_zero_on_bad_input
def check_triangle_position(result: str) -> float:
    """OSWorld's shape-centring test: the pixels of its chosen colour are centred within 5% of each side."""
    pixels = np.array(_open(result))
    colours, counts = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0, return_counts=True)
    chosen = colours[np.argsort(counts)][1]
    centroid = np.argwhere(np.all(pixels == chosen, axis=2)).mean(axis=0)
    extent = np.array(pixels.shape[:2])
    return float(bool(np.all(np.abs(centroid - extent / 2) < 0.05 * extent)))


@_zero_on_bad_input
def check_structure_sim(result: str, expected: str | None = None) -> float:
    return float(_similar(_open(result), _open(expected)))


@_zero_on_bad_input
def check_structure_sim_resized(result: str, expected: str | None = None) -> float:
    """Similar once the result is scaled to the expected picture's size (Pillow's default resampling)."""
    reference = _open(expected)
    return float(_similar(_open(result).resize(reference.size), reference))


@_zero_on_bad_input
def check_image_size(result: str, rule: dict[str, Any] | None = None) -> float:
    """Width and height as the rule says; a side the rule leaves out is not checked."""
    width, height = _open(result).size
    rule = rule or {}
    wanted_h, wanted_w = rule.get("height"), rule.get("width")
    return float((wanted_h is None or height == wanted_h) and (wanted_w is None or width == wanted_w))


@_zero_on_bad_input
def check_palette_and_structure_sim(result: str, original: str | None = None) -> float:
    """Saved as an indexed (palette) picture that still looks like the original."""
    indexed = _open(result)
    return float(indexed.mode == "P" and _similar(indexed.convert("RGB"), _open(original)))


@_zero_on_bad_input
def check_textbox_on_leftside(result: str) -> float:
    """The leftmost dark pixel (grey under 128) lies within the picture's left 5%."""
    grey = np.array(_open(result).convert("L"))
    columns = np.nonzero(grey < 128)[1]
    leftmost = int(columns.min()) if columns.size else grey.shape[1]
    return float(leftmost < grey.shape[1] * 0.05)


@_zero_on_bad_input
def check_contrast_increase_and_structure_sim(result: str, original: str | None = None) -> float:
    """A higher pixel standard deviation than the original, with a loose (0.65) structure match."""
    edited, source = _open(result), _open(original)
    higher = np.asarray(source, dtype=np.float32).std() < np.asarray(edited, dtype=np.float32).std()
    return float(bool(higher) and _similar(edited, source, threshold=0.65))


@_zero_on_bad_input
def check_image_mirror(result: str, original: str | None = None) -> float:
    """The result is the original flipped left to right (SSIM 0.99 allows GIMP's rounding)."""
    flipped = _open(result).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return float(_similar(flipped, _open(original), threshold=0.99))


@_zero_on_bad_input
def check_green_background(result: str, mask: str | None = None) -> float:
    """Wherever the reference is not black, the result's pixel is green-dominant (G above R and above B)."""
    source, reference = np.array(_open(result)), np.array(_open(mask))
    if source.ndim != 3 or reference.ndim != 3 or source.shape[:2] != reference.shape[:2]:
        return 0.0
    background = np.any(reference[..., :3] != 0, axis=-1)
    red, green, blue = (source[..., i] for i in range(3))
    green_enough = (green > red) & (green > blue)
    return float(bool(np.all(green_enough[background])))


@_zero_on_bad_input
def compare_image_list(
    results: str | list[str | None], expected: str | list[str | None] | None = None
) -> float:
    """Every pair is pixel-identical by Pillow's difference box; pairs past the shorter list are ignored."""
    if not isinstance(results, list):
        results, expected = [results], [expected]
    for mine, theirs in zip(results, expected or [], strict=False):
        if not mine or not theirs:
            return 0.0
        if ImageChops.difference(_open(mine), _open(theirs)).getbbox():
            return 0.0
    return 1.0


@_zero_on_bad_input
def check_image_file_size(result: str, rule: dict[str, Any] | None = None) -> float:
    """The file is smaller than the rule's max_size in bytes."""
    return float(os.path.getsize(result) < (rule or {})["max_size"])


@_zero_on_bad_input
def compare_images(result: str, expected: str | None = None) -> float:
    """SSIM of the grey pictures, both scaled to the smaller size tuple; negative similarity counts as 0."""
    if not result or not expected:
        return 0.0
    first, second = _open(result).convert("L"), _open(expected).convert("L")
    size = min(first.size, second.size)
    first = first.resize(size, Image.Resampling.LANCZOS)
    second = second.resize(size, Image.Resampling.LANCZOS)
    return max(0.0, ssim(np.array(first), np.array(second)))


@_zero_on_bad_input
def check_config_status(result: str, rule: dict[str, Any] | None = None) -> float:
    """A line of a GIMP config file `(key ... value)` has the rule's key (one word or two) and value."""
    rule = rule or {}
    with open(result, encoding="utf-8", errors="replace") as f:
        return float(any(_config_line_matches(line, rule["key"], rule["value"]) for line in f))


def _config_line_matches(line: str, key: str | list[str], value: str) -> bool:
    if line.startswith("#"):
        return False
    words = line.strip().lstrip("(").rstrip(")\n").split()
    if not words or words[-1] != value:
        return False
    if isinstance(key, str):
        return words[0] == key
    if isinstance(key, list) and len(key) == 2 and len(words) >= 2:
        return words[:2] == key
    return False


def gimp_config_file(ctx: GetterContext, config: dict[str, Any]) -> str | None:
    """Copy one file of GIMP 2.10's config folder out; an absent or empty one is None (scores 0)."""
    data = ctx.guest.read_file(str(GIMP_CONFIG_DIR / config["file_name"]))
    if not data:
        log.warning("GIMP config file %s is missing or empty", config["file_name"])
        return None
    target = ctx.files / Path(config.get("dest", config["file_name"])).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return str(target)


def _no_options(options: dict[str, Any]) -> list[str]:
    """These metrics take no options: any given would be ignored, so name them all."""
    return sorted(options)


METRICS: dict[str, Metric] = {
    "check_brightness_decrease_and_structure_sim": check_brightness_decrease_and_structure_sim,
    "check_saturation_increase_and_structure_sim": check_saturation_increase_and_structure_sim,
    "check_file_exists_and_structure_sim": check_file_exists_and_structure_sim,
    "check_triangle_position": check_triangle_position,
    "check_config_status": check_config_status,
    "check_structure_sim": check_structure_sim,
    "check_image_size": check_image_size,
    "check_structure_sim_resized": check_structure_sim_resized,
    "check_palette_and_structure_sim": check_palette_and_structure_sim,
    "check_textbox_on_leftside": check_textbox_on_leftside,
    "check_contrast_increase_and_structure_sim": check_contrast_increase_and_structure_sim,
    "check_image_mirror": check_image_mirror,
    "check_green_background": check_green_background,
    "compare_image_list": compare_image_list,
    "check_image_file_size": check_image_file_size,
    "compare_images": compare_images,
}
GETTERS: dict[str, Getter] = {"gimp_config_file": gimp_config_file}
OPTION_GAPS: dict[str, Callable[[dict[str, Any]], list[str]]] = dict.fromkeys(METRICS, _no_options)
