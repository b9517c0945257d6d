"""libmtmd (llama.cpp's multimodal library) on the embedded engine: a projector GGUF beside the model turns
images into embeddings written into a generation's own sequence.

How a call with images runs: `tokenize` (on the calling thread, as llama-server does: it reads the projector's
settings and preprocesses pixels, no model compute) splits the rendered prompt at the media markers into
text and image chunks; the decode loop prefills text with every other generation's tokens and, when an image
is next in a generation's prefill, has `write` encode it and decode its embeddings into that generation's
sequence alone (one image at a time, on the engine thread, other generations waiting meanwhile).

Preemption stays simple and safe: a paused generation's cells (image ones included) stay resident or are
swapped whole to host memory; a cache lost meanwhile is rebuilt from the prompt, encoding its images again.
Prefix reuse stops at the first image (see `vision_prompt`).
"""

from __future__ import annotations

import ctypes
import io
import itertools
import logging
import secrets
import weakref
from collections.abc import Sequence
from pathlib import Path

import llama_cpp
import llama_cpp.mtmd_cpp as mtmd
from PIL import Image, UnidentifiedImageError

from aios.kernel.engines.llama_runtime import LlamaRuntime, log_to_logging
from aios.kernel.engines.vision_prompt import (
    ImagePiece,
    ImagePrompt,
    ImageSpan,
    TextPiece,
    plan_prompt,
)
from aios.kernel.errors import ConfigError, EngineError, InvalidSyscall

logger = logging.getLogger(__name__)


class VisionRuntime:
    """The mtmd context of one projector, bound to the engine's model."""

    def __init__(self, mmproj: Path, *, model: llama_cpp.llama_model_p, n_threads: int, n_batch: int) -> None:
        if not mmproj.is_file():
            raise ConfigError(f"local.mmproj: no projector file at {mmproj}")
        mtmd.mtmd_log_set(log_to_logging, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(log_to_logging, ctypes.c_void_p(0))
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = False
        params.n_threads = n_threads
        params.print_timings = False
        # a marker no text can guess: an image in the prompt is only ever one the caller attached
        self._marker = f"<__aios_image_{secrets.token_hex(8)}__>".encode()
        params.media_marker = self._marker
        context = mtmd.mtmd_init_from_file(str(mmproj).encode(), model, params)
        if not context:
            raise ConfigError(
                f"local.mmproj: libmtmd could not load {mmproj} as a multimodal projector for this model "
                "(the llama.cpp debug log says why)"
            )
        self._context: int | None = context
        self.path = mmproj
        self.marker = self._marker.decode()
        self.can_see = bool(mtmd.mtmd_support_vision(context))
        self.non_causal = bool(mtmd.mtmd_decode_use_non_causal(context))
        """Images are decoded with full attention: each must fit one micro-batch (`n_batch`)."""
        self.n_batch = n_batch
        self._placeholders = (-n for n in itertools.count(1))

    def close(self) -> None:
        if self._context:
            mtmd.mtmd_free(self._context)
            self._context = None

    def evaluate(self, context: llama_cpp.llama_context_p, chunk: int, *, n_past: int, seq_id: int) -> int:
        """Encode an image chunk and decode its embeddings into `seq_id` from `n_past`; the next position."""
        new_n_past = llama_cpp.llama_pos(0)
        rc = mtmd.mtmd_helper_eval_chunk_single(
            self._context, context, chunk, n_past, seq_id, self.n_batch, False, ctypes.byref(new_n_past)
        )
        if rc != 0:
            raise EngineError(f"libmtmd could not encode or decode an image into sequence {seq_id} (rc={rc})")
        return int(new_n_past.value)

    def tokenize(self, text: str, images: Sequence[bytes]) -> ImagePrompt:
        """Split a rendered prompt (one marker per image) into text and image chunks, and plan its cells."""
        bitmaps = [self._bitmap(data, i) for i, data in enumerate(images)]
        chunks = mtmd.mtmd_input_chunks_init()
        if not chunks:
            raise EngineError("libmtmd could not allocate input chunks")
        # the chunks hold the preprocessed pixels until the generation is gone (a lost cache re-encodes)
        owner = _Chunks(chunks)
        try:
            data = text.encode("utf-8")
            source = mtmd.mtmd_input_text(text=data, text_len=len(data), add_special=True, parse_special=True)
            array = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            rc = mtmd.mtmd_tokenize(self._context, chunks, ctypes.byref(source), array, len(bitmaps))
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        if rc != 0:
            raise InvalidSyscall(f"libmtmd could not tokenize a prompt with {len(images)} images (rc={rc})")
        count = mtmd.mtmd_input_chunks_size(chunks)
        pieces = [self._piece(mtmd.mtmd_input_chunks_get(chunks, i)) for i in range(count)]
        plan = plan_prompt(pieces, self._placeholders)
        return ImagePrompt(plan=plan, writer=_ChunkWriter(self, owner))

    def _bitmap(self, data: bytes, index: int) -> int:
        """RGB pixels decoded with Pillow (the kernel admits WebP, which libmtmd's decoder lacks)."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError) as e:
            raise InvalidSyscall(f"image {index + 1} cannot be decoded: {e}") from e
        pixels = rgb.tobytes()
        buffer = (ctypes.c_uint8 * len(pixels)).from_buffer_copy(pixels)
        bitmap = mtmd.mtmd_bitmap_init(rgb.width, rgb.height, buffer)
        if not bitmap:
            raise EngineError(f"libmtmd could not take image {index + 1} ({rgb.width}x{rgb.height})")
        return int(bitmap)

    def _piece(self, chunk: int) -> TextPiece | ImagePiece:
        kind = mtmd.mtmd_input_chunk_get_type(chunk)
        if kind == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
            count = ctypes.c_size_t(0)
            pointer = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
            return TextPiece(tokens=tuple(pointer[i] for i in range(count.value)))
        if kind != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
            raise InvalidSyscall("the embedded engine takes images only")
        n_tokens = int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))
        if self.non_causal and n_tokens > self.n_batch:
            raise ConfigError(
                f"local.n_batch: this projector decodes an image of {n_tokens} tokens in one batch; "
                f"raise n_batch from {self.n_batch} to at least {n_tokens}"
            )
        return ImagePiece(n_tokens=n_tokens, n_pos=int(mtmd.mtmd_input_chunk_get_n_pos(chunk)))


class _Chunks:
    """Frees libmtmd's chunks when the last generation holding them is gone."""

    def __init__(self, pointer: int) -> None:
        self.pointer = pointer
        weakref.finalize(self, mtmd.mtmd_input_chunks_free, pointer)


class _ChunkWriter:
    """Encodes a prompt's images with the projector and decodes their embeddings into a sequence."""

    def __init__(self, vision: VisionRuntime, chunks: _Chunks) -> None:
        self._vision = vision
        self._chunks = chunks

    def write(self, runtime: LlamaRuntime, span: ImageSpan, *, n_past: int, seq_id: int) -> None:
        chunk = mtmd.mtmd_input_chunks_get(self._chunks.pointer, span.chunk)
        moved = self._vision.evaluate(runtime.context, chunk, n_past=n_past, seq_id=seq_id) - n_past
        if moved != span.n_pos:
            raise EngineError(f"libmtmd moved the position by {moved}, the plan said {span.n_pos}")
