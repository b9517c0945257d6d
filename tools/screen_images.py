"""Screenshots sized for a model: a 1920x1080 PNG of a busy screen is megabytes, and providers scale
images down to about 1,300-1,600 px on the long side anyway, so the kernel sends what the model will see."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class ScreenshotConfig(BaseModel):
    """How screenshots are scaled and encoded for a model (the gui and browser drivers, the osworld run)."""

    model_config = ConfigDict(extra="forbid")

    max_width: int = Field(default=1280, ge=64, le=8192)
    max_height: int = Field(default=800, ge=64, le=8192)
    """The image fits in max_width x max_height, keeping the screen's proportions (never scaled up)."""
    format: Literal["png", "jpeg", "webp"] = "png"
    """PNG keeps text crisp; JPEG and WebP are smaller for photos and video."""
    quality: int = Field(default=80, ge=1, le=100)
    """JPEG and WebP quality."""


@dataclass(frozen=True)
class EncodedShot:
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

    def to_screen(self, x: float, y: float) -> tuple[int, int]:
        """A point of the image as a point of the screen."""
        return round(x * self.screen_width / self.width), round(y * self.screen_height / self.height)


def encode(image: Image.Image, config: ScreenshotConfig) -> EncodedShot:
    """`image` scaled to fit the configured box and encoded in the configured format."""
    screen_width, screen_height = image.size
    scale = min(1.0, config.max_width / screen_width, config.max_height / screen_height)
    if scale < 1.0:
        size = (max(1, round(screen_width * scale)), max(1, round(screen_height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
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
