"""Images on the embedded engine: the refusal, the projector checks at load, the prompt planning, and the
request path through the real decode loop with the projector's encoder stood in for.

No vision model can be downloaded here, so libmtmd never encodes a real image in these tests: the stand-in
writes the cells of known text tokens where the image goes, and the engine must then produce exactly what
the same tokens give as plain text (greedy, deterministic engine), through batching, yields and a lost cache.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.kernel.engines.batching import BatchEntry, build_batch
from aios.kernel.engines.generation import Generation
from aios.kernel.engines.interface import PreparedCall, Yielded
from aios.kernel.engines.kv_cache import Sequence
from aios.kernel.engines.llama_runtime import LlamaRuntime
from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.engines.model_file import embedded_model_path
from aios.kernel.engines.vision_prompt import (
    ImagePiece,
    ImagePrompt,
    ImageSpan,
    TextPiece,
    image_bytes,
    marked_request,
    plan_prompt,
    text_run,
)
from aios.kernel.errors import ConfigError, InvalidSyscall
from aios.kernel.syscalls import ImagePart, ImageSource, LLMResult, LLMSyscall, Message, TextPart

from .helpers import generate

MARK = "<__m__>"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
DATA_URL = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"


def _with_image(text: str = "What is in this picture?") -> LLMSyscall:
    parts = (TextPart(text=text), ImagePart(image_url=ImageSource(url=DATA_URL)), TextPart(text="Be brief."))
    return LLMSyscall(messages=(Message(role="user", content=parts),), max_tokens=8)


# ---- pure parts ------------------------------------------------------------------------------------


def test_each_image_becomes_a_marker_where_it_was_in_its_message() -> None:
    request = _with_image()
    marked = marked_request(request, MARK)
    assert marked.messages[0].content == f"What is in this picture?\n{MARK}\nBe brief."
    assert request.messages[0].images, "the original request is left as it was"


def test_a_marker_written_in_text_makes_no_image() -> None:
    request = LLMSyscall(
        messages=(
            Message(role="system", content=f"ignore {MARK} this"),
            Message(
                role="user",
                content=(TextPart(text=f"a{MARK}b"), ImagePart(image_url=ImageSource(url=DATA_URL))),
            ),
        )
    )
    marked = marked_request(request, MARK)
    assert marked.messages[0].content == "ignore  this"
    assert marked.messages[1].content == f"ab\n{MARK}"


def test_image_cells_are_laid_out_among_text_and_positions_follow_the_projector() -> None:
    placeholders = (-n for n in itertools.count(7))
    pieces = [TextPiece(tokens=(1, 2, 3)), ImagePiece(n_tokens=4, n_pos=1), TextPiece(tokens=(5, 6))]
    plan = plan_prompt(pieces, placeholders)
    assert plan.tokens == (1, 2, 3, -7, -7, -7, -7, 5, 6)
    assert plan.images == (ImageSpan(chunk=1, start=3, n_tokens=4, n_pos=1, placeholder=-7),)
    # an M-RoPE image takes 4 cells but 1 position: text after it sits 3 positions earlier than its cell
    assert [plan.position(c) for c in (0, 3, 7, 9, 12)] == [0, 3, 4, 6, 9]
    assert plan.image_at(3) is plan.images[0] and plan.image_at(4) is None
    assert text_run(plan.tokens) == 3 and text_run(plan.tokens[7:]) == 2


def test_a_prompt_must_end_with_text() -> None:
    with pytest.raises(InvalidSyscall, match="end with text"):
        plan_prompt([TextPiece(tokens=(1,)), ImagePiece(n_tokens=2, n_pos=2)], iter([-1]))


def test_the_engine_takes_inlined_images_only() -> None:
    assert image_bytes(ImageSource(url=DATA_URL), 0) == PNG
    with pytest.raises(InvalidSyscall, match="image 2: the engine takes images inlined"):
        image_bytes(ImageSource(path="shot.png"), 1)
    with pytest.raises(InvalidSyscall, match="not valid base64"):
        image_bytes(ImageSource(url="data:image/png;base64,%%%"), 0)


def test_a_generation_batches_the_text_before_its_next_image_and_samples_after_the_last() -> None:
    plan = plan_prompt(
        [TextPiece(tokens=(1, 2)), ImagePiece(n_tokens=3, n_pos=1), TextPiece(tokens=(4, 5))], iter([-9])
    )
    generation = Generation(
        key=1,
        owner=1,
        request=_with_image(),
        prompt=list(plan.tokens),
        max_new=4,
        grammar=None,
        program_arrival=0.0,
        is_tool_reply=False,
        seed=0,
        vision=ImagePrompt(plan=plan, writer=_TextAsImage([])),
    )
    generation.seq = Sequence(owner=1, slot=5)
    generation.pending = list(plan.tokens)
    before = build_batch([generation.view()], 64)
    assert [(e.token, e.pos, e.seq_id, e.wants_logits) for e in before.entries] == [
        (1, 0, 5, False),
        (2, 1, 5, False),
    ]
    assert before.sample_rows == []
    generation.seq.tokens = list(plan.tokens[:5])
    generation.pending = list(plan.tokens[5:])
    after = build_batch([generation.view()], 64)
    assert [(e.token, e.pos) for e in after.entries] == [(4, 3), (5, 4)]
    assert after.sample_rows == [(1, 1)]


# ---- the engine ------------------------------------------------------------------------------------


class _TextAsImage:
    """Stands in for the projector's encoder: writes the cells of known text tokens where the image goes."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = tokens
        self.writes = 0

    def write(self, runtime: LlamaRuntime, span: ImageSpan, *, n_past: int, seq_id: int) -> None:
        assert span.n_tokens == span.n_pos == len(self.tokens)
        entries = [
            BatchEntry(token=t, pos=n_past + i, seq_id=seq_id, wants_logits=False)
            for i, t in enumerate(self.tokens)
        ]
        assert runtime.decode(entries) == 0
        self.writes += 1


_placeholders = (-n for n in itertools.count(1_000_000))


async def _as_image_call(
    engine: LocalEngine, request: LLMSyscall, owner: int
) -> tuple[PreparedCall, _TextAsImage]:
    """The request prepared for real, then a run of its prompt tokens turned into an image's cells."""
    prepared = await engine.prepare(request, owner=owner, program_arrival=0.0)
    generation = prepared.handle
    assert isinstance(generation, Generation)
    tokens = generation.prompt
    start, end = len(tokens) // 3, len(tokens) // 3 + 12
    writer = _TextAsImage(tokens[start:end])
    pieces = [
        TextPiece(tokens=tuple(tokens[:start])),
        ImagePiece(n_tokens=end - start, n_pos=end - start),
        TextPiece(tokens=tuple(tokens[end:])),
    ]
    plan = plan_prompt(pieces, _placeholders)
    generation.prompt, generation.vision = list(plan.tokens), ImagePrompt(plan=plan, writer=writer)
    return prepared, writer


def _story(topic: str, tokens: int) -> LLMSyscall:
    return LLMSyscall(messages=(Message(role="user", content=f"Tell me about {topic}."),), max_tokens=tokens)


@pytest.fixture(scope="module")
def engine(calibration_file: Path) -> Iterator[LocalEngine]:
    """Deterministic, two sequences and no swap space: a paused cache can be lost."""
    config = LocalEngineConfig(
        n_ctx=2048,
        n_seq_max=2,
        max_concurrency=2,
        swap_budget_mb=0,
        deterministic=True,
        calibration_file=str(calibration_file),
    )
    engine = LocalEngine(config)
    yield engine
    asyncio.run(engine.close())


@pytest.mark.model
async def test_without_a_projector_images_are_refused(engine: LocalEngine) -> None:
    assert engine.cannot_see() is not None and "local.mmproj" in (engine.cannot_see() or "")
    with pytest.raises(
        InvalidSyscall, match="cannot read images: the embedded engine runs a text-only model"
    ):
        await engine.prepare(_with_image(), owner=5000, program_arrival=0.0)


@pytest.mark.model
def test_a_missing_projector_file_is_a_config_error_at_load(tmp_path: Path) -> None:
    missing = tmp_path / "mmproj-model-f16.gguf"
    with pytest.raises(ConfigError, match=f"local.mmproj: no projector file at {missing}"):
        LocalEngine(LocalEngineConfig(n_ctx=512, n_seq_max=1, mmproj=str(missing)))


@pytest.mark.model
def test_a_file_that_is_no_projector_is_a_config_error_at_load() -> None:
    """libmtmd returns NULL for a GGUF that holds no projector (it does not abort the process)."""
    model = embedded_model_path()
    with pytest.raises(
        ConfigError, match=f"local.mmproj: libmtmd could not load {model} as a multimodal projector"
    ):
        LocalEngine(LocalEngineConfig(n_ctx=512, n_seq_max=1, mmproj=str(model)))


@pytest.mark.model
async def test_an_image_prompt_gives_what_the_same_cells_give_as_text(engine: LocalEngine) -> None:
    request = _story("the sea", 24)
    plain = await generate(engine, request, owner=5100)
    await engine.release(5100)
    prepared, writer = await _as_image_call(engine, request, owner=5101)
    seen = await engine.run(prepared)
    assert isinstance(seen, LLMResult)
    assert seen.content == plain.content and writer.writes == 1
    assert seen.usage.prompt_tokens == plain.usage.prompt_tokens  # image cells count as prompt tokens
    assert seen.usage.prefilled_tokens == seen.usage.prompt_tokens
    # the next call of the process reuses its cache up to the image, never the image's cells
    follow_up = await generate(engine, request, owner=5101)
    generation = prepared.handle
    assert isinstance(generation, Generation) and generation.vision is not None
    assert follow_up.usage.reused_tokens == generation.vision.plan.images[0].start
    assert follow_up.content == plain.content
    await engine.release(5101)


@pytest.mark.model
async def test_a_paused_image_generation_whose_cache_was_lost_encodes_its_image_again(
    engine: LocalEngine,
) -> None:
    request = _story("mountains", 40)
    plain = await generate(engine, request, owner=5200)
    await engine.release(5200)
    prepared, writer = await _as_image_call(engine, request, owner=5201)
    assert isinstance(await engine.run(prepared, budget_tokens=16), Yielded)
    evictions = engine.kv.stats.evictions
    # two others take both sequence slots: the paused cache has nowhere to go (no swap space)
    await asyncio.gather(*(generate(engine, _story(t, 6), owner=5300 + i) for i, t in enumerate("ab")))
    assert engine.kv.stats.evictions > evictions
    resumed = await engine.run(prepared)
    assert isinstance(resumed, LLMResult) and resumed.content == plain.content
    assert writer.writes == 2
    for owner in (5201, 5300, 5301):
        await engine.release(owner)
