"""Prompts with images on the embedded engine: where images go in the rendered text, and where their cells go
among the prompt's tokens. Pure functions (no llama.cpp), so they are tested on their own.

An image occupies `n_tokens` KV cells but may advance the position by fewer (`n_pos`: M-RoPE models such
as Qwen-VL). In the engine's token lists (`Generation.prompt`, `Sequence.tokens`) each image cell holds the
image's placeholder: a negative number never reused by another call, so prefix matching stops at an image
and no call ever reuses cells another call's image wrote.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aios.kernel.errors import InvalidSyscall
from aios.kernel.syscalls import ImagePart, ImageSource, LLMSyscall, Message

if TYPE_CHECKING:
    from aios.kernel.engines.llama_runtime import LlamaRuntime


def marked_request(request: LLMSyscall, marker: str) -> LLMSyscall:
    """The request with every image replaced by `marker` in its message's text (chat templates take text);
    a marker written in the text itself is removed, so only real images make image chunks."""
    messages = tuple(_marked(message, marker) for message in request.messages)
    return request.model_copy(update={"messages": messages})


def _marked(message: Message, marker: str) -> Message:
    if isinstance(message.content, str):
        if marker not in message.content:
            return message
        return message.model_copy(update={"content": message.content.replace(marker, "")})
    pieces = [
        marker if isinstance(part, ImagePart) else part.text.replace(marker, "") for part in message.content
    ]
    return message.model_copy(update={"content": "\n".join(pieces)})


def request_images(request: LLMSyscall) -> list[ImageSource]:
    """The request's images in prompt order."""
    return [image for message in request.messages for image in message.images]


def image_bytes(source: ImageSource, index: int) -> bytes:
    """The bytes of an image the kernel has inlined as a base64 data: URL."""
    url = source.url or ""
    head, _, payload = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise InvalidSyscall(f"image {index + 1}: the engine takes images inlined as base64 data: URLs")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as e:
        raise InvalidSyscall(f"image {index + 1}: the data: URL is not valid base64 ({e})") from e


@dataclass(frozen=True, kw_only=True)
class TextPiece:
    """A run of text tokens of a tokenized prompt."""

    tokens: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class ImagePiece:
    """An image of a tokenized prompt, as the projector counts it."""

    n_tokens: int
    """KV cells its embeddings take."""
    n_pos: int
    """Positions it advances the sequence by (fewer than n_tokens on M-RoPE models)."""


@dataclass(frozen=True, kw_only=True)
class ImageSpan:
    """Where one image's cells lie in the prompt."""

    chunk: int
    """Its index among the tokenized prompt's pieces (libmtmd's chunk index)."""
    start: int
    """Its first cell: the prompt index of its first placeholder."""
    n_tokens: int
    n_pos: int
    placeholder: int


@dataclass(frozen=True, kw_only=True)
class PromptPlan:
    """A prompt's cells: text tokens, and each image as `n_tokens` copies of its placeholder."""

    tokens: tuple[int, ...]
    images: tuple[ImageSpan, ...]

    def position(self, cells: int) -> int:
        """The position of the token after the first `cells` cells (images may take fewer positions)."""
        return cells - sum(s.n_tokens - s.n_pos for s in self.images if s.start + s.n_tokens <= cells)

    def image_at(self, cell: int) -> ImageSpan | None:
        """The image whose first cell is `cell`, if one starts there."""
        return next((s for s in self.images if s.start == cell), None)


def plan_prompt(pieces: Sequence[TextPiece | ImagePiece], placeholders: Iterator[int]) -> PromptPlan:
    """Lay out a tokenized prompt's cells; each image takes the next (negative) placeholder."""
    tokens: list[int] = []
    images: list[ImageSpan] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, TextPiece):
            tokens.extend(piece.tokens)
            continue
        placeholder = next(placeholders)
        assert placeholder < 0, "placeholders must never collide with a token id"
        start = len(tokens)
        span = ImageSpan(
            chunk=index, start=start, n_tokens=piece.n_tokens, n_pos=piece.n_pos, placeholder=placeholder
        )
        images.append(span)
        tokens.extend([placeholder] * piece.n_tokens)
    if not pieces or not isinstance(pieces[-1], TextPiece):
        raise InvalidSyscall("a prompt must end with text after its last image (the assistant's turn)")
    return PromptPlan(tokens=tuple(tokens), images=tuple(images))


def text_run(pending: Sequence[int]) -> int:
    """How many of the pending cells come before the first image's."""
    for i, token in enumerate(pending):
        if token < 0:
            return i
    return len(pending)


class ImageWriter(Protocol):
    """Writes one image's cells into a sequence; the decode loop calls it on the engine thread when the
    image is next in a generation's prefill (libmtmd's encoder in `mtmd_runtime`)."""

    def write(self, runtime: LlamaRuntime, span: ImageSpan, *, n_past: int, seq_id: int) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ImagePrompt:
    """A prompt with images: its cell plan, and what writes each image's cells (kept for recomputing)."""

    plan: PromptPlan
    writer: ImageWriter
