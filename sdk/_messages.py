"""Messages with images in one line: `ctx.llm([user("What is on screen?", shot)])`, where `shot` is what
`gui.screenshot` or `browser.screenshot` returned, a path in the work folder, or the image's bytes."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from os import PathLike
from typing import Any, Literal

from aios.kernel.errors import InvalidSyscall
from aios.kernel.syscalls import ImagePart, ImageSource, Message, TextPart

ImageLike = str | PathLike[str] | bytes | Mapping[str, Any]
"""A work-folder path, an image's bytes (PNG, JPEG, WebP), or a driver's output that names a `path`."""
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def image(source: ImageLike, *, detail: Literal["auto", "low", "high"] = "auto") -> ImagePart:
    """An image part; a path travels as a path (the kernel reads the file), bytes travel inline."""
    if isinstance(source, bytes):
        url = f"data:{_mime(source)};base64,{base64.b64encode(source).decode()}"
        return ImagePart(image_url=ImageSource(url=url, detail=detail))
    if isinstance(source, Mapping):
        path = source.get("path")
        if not isinstance(path, str):
            raise InvalidSyscall("a tool's output given as an image needs a 'path' (as a screenshot's has)")
        source = path
    return ImagePart(image_url=ImageSource(path=str(source), detail=detail))


def user(text: str, *images: ImageLike, detail: Literal["auto", "low", "high"] = "auto") -> Message:
    """A user message: the text, then each image."""
    if not images:
        return Message(role="user", content=text)
    parts = (TextPart(text=text), *(image(i, detail=detail) for i in images))
    return Message(role="user", content=parts)


def _mime(data: bytes) -> str:
    for magic, mime in _MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InvalidSyscall("image bytes must be PNG, JPEG or WebP")
