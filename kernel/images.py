"""Images in LLM syscalls: read from the process's work folder or a data: URL, checked against the limits,
and inlined for the engine; what the audit keeps of each is its hash, size and dimensions, never its bytes.

A path is read the way `tools.workdir_files` writes: one folder at a time, refusing links, so an agent that
planted a link in its own work folder cannot make the kernel (which may run as root) read a file outside it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import stat
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from aios.kernel.errors import InvalidSyscall
from aios.kernel.syscalls import ImagePart, ImageSource, Message, TextPart

SANDBOX_HOME = PurePosixPath("/workspace")
"""Where an isolated agent sees its work folder (as `tools.sandbox.SANDBOX_HOME`; a test holds them equal)."""
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC


class ImageLimits(BaseModel):
    """What one LLM syscall may carry (`[images]` in the configuration)."""

    model_config = ConfigDict(extra="forbid")

    max_image_bytes: int = Field(default=8 * 2**20, ge=1024)
    """One image's encoded size (8 MiB: a 1920x1080 PNG of a busy screen is 2-6 MiB)."""
    max_call_bytes: int = Field(default=24 * 2**20, ge=1024)
    """All images of one call together."""
    max_images: int = Field(default=16, ge=0)
    """Images per call (0 refuses images altogether)."""
    max_pixels: int = Field(default=40_000_000, ge=1)
    """Width times height of one image: a small file may claim a huge canvas."""


@dataclass(frozen=True)
class ImageFacts:
    """What the audit row records of one image."""

    sha256: str
    bytes: int
    width: int
    height: int
    format: str
    source: str
    """`path` or `inline`."""

    def as_detail(self) -> dict[str, object]:
        return asdict(self)


def inline_images(
    messages: tuple[Message, ...], workdir: Path, limits: ImageLimits
) -> tuple[tuple[Message, ...], list[ImageFacts]]:
    """The messages with every image checked and given as a data: URL, and the facts of each image."""
    facts: list[ImageFacts] = []
    if not any(m.images for m in messages):
        return messages, facts
    total = sum(len(m.images) for m in messages)
    if total > limits.max_images:
        raise InvalidSyscall(f"{total} images in one llm call; at most {limits.max_images} are allowed")
    out: list[Message] = []
    used = 0
    for i, message in enumerate(messages):
        if not message.images:
            out.append(message)
            continue
        assert not isinstance(message.content, str)
        parts: list[TextPart | ImagePart] = []
        for part in message.content:
            if isinstance(part, TextPart):
                parts.append(part)
                continue
            where = f"messages[{i}] image {len(facts) + 1}"
            data, source = _bytes_of(part.image_url, workdir, limits, where)
            used += len(data)
            if used > limits.max_call_bytes:
                raise InvalidSyscall(
                    f"the images of one llm call exceed {limits.max_call_bytes} bytes (at {where})"
                )
            kind, width, height = _check(data, limits, where)
            facts.append(
                ImageFacts(
                    sha256=hashlib.sha256(data).hexdigest(),
                    bytes=len(data),
                    width=width,
                    height=height,
                    format=kind.lower(),
                    source=source,
                )
            )
            url = f"data:{FORMATS[kind]};base64,{base64.b64encode(data).decode()}"
            parts.append(ImagePart(image_url=ImageSource(url=url, detail=part.image_url.detail)))
        out.append(message.model_copy(update={"content": tuple(parts)}))
    return tuple(out), facts


def _bytes_of(image: ImageSource, workdir: Path, limits: ImageLimits, where: str) -> tuple[bytes, str]:
    if image.url is not None:
        header, comma, payload = image.url.partition(",")
        if not comma or not header.endswith(";base64"):
            raise InvalidSyscall(f"{where}: a data: URL must be base64 (data:image/png;base64,...)")
        if len(payload) > limits.max_image_bytes * 4 // 3 + 4:
            raise InvalidSyscall(f"{where} is over {limits.max_image_bytes} bytes")
        try:
            return base64.b64decode(payload, validate=True), "inline"
        except binascii.Error as e:
            raise InvalidSyscall(f"{where}: the data: URL is not valid base64 ({e})") from e
    assert image.path is not None
    return read_in_workdir(workdir, image.path, limits.max_image_bytes, where), "path"


def read_in_workdir(workdir: Path, path: str, max_bytes: int, where: str) -> bytes:
    """The bytes of `path` inside `workdir`, refusing links, `..`, other files' hard links and big files."""
    parts = _relative_parts(workdir, path, where)
    try:
        folder = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | _NO_LINK)
    except OSError as e:
        raise InvalidSyscall(f"{where}: the process has no work folder to read {path!r} from") from e
    try:
        for name in parts[:-1]:
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NO_LINK, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], os.O_RDONLY | _NO_LINK | os.O_NONBLOCK, dir_fd=folder)
    except OSError as e:
        raise InvalidSyscall(f"{where}: cannot read {path!r} in the work folder ({e.strerror})") from e
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise InvalidSyscall(f"{where}: {path!r} is not a regular file")
        if status.st_nlink != 1:
            raise InvalidSyscall(f"{where}: {path!r} has other names (a hard link); copy the image instead")
        if status.st_size > max_bytes:
            raise InvalidSyscall(f"{where}: {path!r} is {status.st_size} bytes, over {max_bytes}")
        return file.read(max_bytes + 1)[:max_bytes]


def _relative_parts(workdir: Path, path: str, where: str) -> list[str]:
    pure = PurePosixPath(path)
    for root in (SANDBOX_HOME, PurePosixPath(workdir)):
        if pure.is_absolute() and pure.is_relative_to(root):
            pure = pure.relative_to(root)
            break
    if pure.is_absolute() or not pure.parts or ".." in pure.parts:
        raise InvalidSyscall(
            f"{where}: {path!r} is not a file of the process's work folder (give a path inside it)"
        )
    return [p for p in pure.parts if p != "."]


def _check(data: bytes, limits: ImageLimits, where: str) -> tuple[str, int, int]:
    """The format and dimensions from the header; refuses other formats and oversized canvases."""
    from PIL import Image, UnidentifiedImageError  # only calls with images load Pillow (the CLI reads limits)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(FORMATS)) as image:
                kind, (width, height) = image.format or "", image.size
    except UnidentifiedImageError as e:  # its message names a BytesIO object, nothing of use
        raise InvalidSyscall(f"{where} is not a PNG, JPEG or WebP image (by its content)") from e
    except (OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise InvalidSyscall(f"{where} is not a PNG, JPEG or WebP image ({type(e).__name__}: {e})") from e
    if kind not in FORMATS:
        raise InvalidSyscall(f"{where} is {kind or 'an unknown format'}; PNG, JPEG and WebP are accepted")
    if width * height > limits.max_pixels:
        raise InvalidSyscall(f"{where} is {width}x{height}, over {limits.max_pixels} pixels")
    return kind, width, height
