"""Screenshots sized for a model: a 1920x1080 PNG of a busy screen is megabytes, and providers scale
images down to about 1,300-1,600 px on the long side anyway, so the kernel sends what the model will see."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # Pillow is imported on first use: the settings load with every `aios` command
    from PIL import Image

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


class ScreenshotConfig(BaseModel):
    """How screenshots are scaled and encoded for a model (`[gui.screenshot]`, `[browser.screenshot]`)."""

    model_config = ConfigDict(extra="forbid")

    max_width: int = Field(default=1280, ge=64, le=8192)
    max_height: int = Field(default=800, ge=64, le=8192)
    """The image fits in max_width x max_height, keeping the screen's proportions (never scaled up). A
    browser's full-page screenshot fits max_width only: squeezing a long page into the box would leave its
    text unreadable, and the kernel's `[images] max_pixels` still bounds it."""
    format: Literal["png", "jpeg", "webp"] = "png"
    """PNG keeps text crisp; JPEG and WebP are smaller for photos and video."""
    quality: int = Field(default=80, ge=1, le=100)
    """JPEG and WebP quality."""


@dataclass(frozen=True)
class EncodedShot:
    """A screenshot ready to be saved, with what an agent needs to act on it."""

    data: bytes
    width: int
    height: int
    format: str
    screen_width: int
    screen_height: int
    """The screen's own size: a point at (x, y) in the image is at (x * screen_width / width, ...) on it."""

    @property
    def mime(self) -> str:
        return MIME[self.format]

    @property
    def suffix(self) -> str:
        """The file name's extension, so tools that go by it open the file right."""
        return SUFFIX[self.format]

    def to_screen(self, x: float, y: float) -> tuple[int, int]:
        """A point of the image as a point of the screen."""
        return round(x * self.screen_width / self.width), round(y * self.screen_height / self.height)

    def output(self, path: Path) -> dict[str, Any]:
        """What a driver returns for the shot saved at `path` (the `path` key is what `sdk.user` reads)."""
        return {
            "path": str(path),
            "width": self.width,
            "height": self.height,
            "bytes": len(self.data),
            "format": self.format,
            "screen_width": self.screen_width,
            "screen_height": self.screen_height,
        }


def fitted_size(
    width: int, height: int, config: ScreenshotConfig, *, fit_height: bool = True
) -> tuple[int, int]:
    """The size a `width` x `height` screen is scaled to: within the box, proportions kept, never larger."""
    scale = min(1.0, config.max_width / width, config.max_height / height if fit_height else 1.0)
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode(
    image: Image.Image, config: ScreenshotConfig, *, use_full_size: bool = False, fit_height: bool = True
) -> EncodedShot:
    """`image` scaled to fit the configured box (unless `use_full_size`) and encoded in the configured
    format; `fit_height=False` bounds the width only (a long page)."""
    from PIL import Image

    screen_width, screen_height = image.size
    size = image.size if use_full_size else fitted_size(*image.size, config, fit_height=fit_height)
    if size != image.size:
        # area averaging: text as crisp as bilinear's, and 40% smaller as PNG (fewer in-between colours)
        image = image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    match config.format:
        case "png":
            image.save(out, "PNG", compress_level=1)  # level 6 saves 5% for twice the time
        case "jpeg":
            image.save(out, "JPEG", quality=config.quality)
        case "webp":
            image.save(out, "WEBP", quality=config.quality, method=2)
    return EncodedShot(
        data=out.getvalue(),
        width=image.width,
        height=image.height,
        format=config.format,
        screen_width=screen_width,
        screen_height=screen_height,
    )


def encode_png(
    png: bytes, config: ScreenshotConfig, *, use_full_size: bool = False, fit_height: bool = True
) -> EncodedShot:
    """A PNG someone else took (Chromium's), scaled and encoded as `encode` does; kept as it is when it
    already fits and PNG is wanted, rather than decoded and compressed again."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
        size = image.size if use_full_size else fitted_size(width, height, config, fit_height=fit_height)
        if size == image.size and config.format == "png" and image.format == "PNG":
            return EncodedShot(
                data=png, width=width, height=height, format="png", screen_width=width, screen_height=height
            )
        image.load()
        return encode(image, config, use_full_size=use_full_size, fit_height=fit_height)
