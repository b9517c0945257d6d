"""One generation on the local engine, from `prepare` to its result, kept whole across yields."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aios.kernel.engines.batching import GenerationView
from aios.kernel.engines.chat_format import parse_tool_reply
from aios.kernel.engines.interface import Yielded
from aios.kernel.engines.kv_cache import Sequence
from aios.kernel.engines.llama_runtime import LlamaRuntime, Sampler
from aios.kernel.engines.vision_prompt import ImagePrompt, text_run
from aios.kernel.errors import EngineError
from aios.kernel.syscalls import LLMResult, LLMSyscall, Usage

logger = logging.getLogger(__name__)

Outcome = LLMResult | Yielded | BaseException


@dataclass(eq=False, kw_only=True)
class Generation:
    """Engine-private state of one call; lives on the engine thread once started."""

    key: int
    owner: int
    request: LLMSyscall
    prompt: list[int]
    max_new: int
    grammar: str | None
    program_arrival: float
    is_tool_reply: bool
    seed: int
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[LLMResult | Yielded] | None = None
    budget: int | None = None
    """Tokens this `run` may still generate before it yields (None: no limit)."""
    seq: Sequence | None = None
    pending: list[int] = field(default_factory=list)
    """Tokens still to prefill: the prompt's uncached suffix, or a lost cache being recomputed."""
    refilling: bool = False
    """The pending tokens rebuild a cache that was lost while paused; `next_token` is already sampled."""
    next_token: int | None = None
    """Sampled but not yet fed back (its KV is not in the cache yet)."""
    generated: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)
    sampler: Sampler | None = None
    reused: int = 0
    offload_when_evicted: bool = False
    """Its cache, once it ends, goes to host memory if evicted before the kernel parks it."""
    cancelled: bool = False
    started: bool = False
    on_text: Callable[[str], None] | None = None
    streamed_chars: int = 0
    vision: ImagePrompt | None = None
    """The images of a prompt that has some: `prompt` holds their placeholders (see `vision_prompt`)."""
    scope: str | None = None
    """Whose call it is (the user): prompt prefixes are shared only within a scope."""

    def stream(self) -> None:
        """Hand the text generated since the last call to `on_text` (from the engine thread)."""
        on_text, loop = self.on_text, self.loop
        if on_text is None or loop is None:
            return
        text = self.text.decode("utf-8", "ignore")  # a character cut in half waits for its other bytes
        delta, self.streamed_chars = text[self.streamed_chars :], len(text)
        if delta:
            try:
                loop.call_soon_threadsafe(on_text, delta)
            except RuntimeError:
                self.on_text = None  # its event loop is closed: nobody listens

    def view(self) -> GenerationView:
        assert self.seq is not None and self.seq.slot is not None, "only resident generations are batched"
        pending, position, sample = self.pending, len(self.seq.tokens), not self.refilling
        if self.vision is not None:
            # batch only the text before the next image; sample once the last image is in
            run = text_run(pending)
            if run < len(pending):
                pending, sample = pending[:run], False
            position = self.vision.plan.position(position)
        return GenerationView(
            key=self.key,
            slot=self.seq.slot,
            cached_tokens=position,
            next_token=self.next_token,
            pending=pending,
            sample_after_prefill=sample,
        )

    def write_images(self, runtime: LlamaRuntime) -> None:
        """Write the images next in the prefill into the sequence (text before them is in by now)."""
        seq, vision = self.seq, self.vision
        assert seq is not None and seq.slot is not None and vision is not None
        while self.pending and self.pending[0] < 0:
            span = vision.plan.image_at(len(seq.tokens))
            if span is None or self.pending[0] != span.placeholder:
                raise EngineError(f"pid {self.owner}: no image starts at cell {len(seq.tokens)}")
            position = vision.plan.position(len(seq.tokens))
            vision.writer.write(runtime, span, n_past=position, seq_id=seq.slot)
            seq.tokens.extend(self.pending[: span.n_tokens])
            del self.pending[: span.n_tokens]
            self.refilling = self.refilling and bool(self.pending)

    def lost_tokens(self) -> list[int]:
        """What its cache held when it was paused: the prompt and every token generated but the last."""
        return [*self.prompt, *self.generated[:-1]]

    def result(self, text: str, reason: Literal["stop", "length"], model: str) -> LLMResult:
        usage = Usage(
            prompt_tokens=len(self.prompt),
            completion_tokens=len(self.generated),
            reused_tokens=self.reused,
            prefilled_tokens=len(self.prompt) - self.reused,
        )
        content, calls = text, ()
        if self.is_tool_reply and reason == "stop":
            try:
                content, calls = parse_tool_reply(text)
            except (ValueError, KeyError) as e:
                logger.warning("grammar-constrained reply did not parse (%s): %r", e, text[:200])
        return LLMResult(
            content=content,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else reason,
            usage=usage,
            model=model,
        )

    def deliver(self, outcome: Outcome) -> None:
        """Hand the outcome to the awaiting task on its event loop (from the engine thread)."""
        future, loop = self.future, self.loop
        if future is None or loop is None:
            return

        def resolve() -> None:
            if future.done():
                return
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:
            logger.debug("result for pid %s dropped: its event loop is closed", self.owner)


def stop_index(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
