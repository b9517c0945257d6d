"""The embedded llama.cpp engine, for real: batching, prefix reuse, grammars, cancellation.

These assert on mechanics (token counts, cache reuse, schema validity), never on what the model says.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.errors import ContextOverflow, InvalidSyscall
from aios.kernel.syscalls import LLMSyscall, Message, Sampling, ToolSpec

from ..fakes import until
from .helpers import generate

pytestmark = pytest.mark.model

SHELL = ToolSpec(
    name="shell.exec",
    description="Run a shell command.",
    parameters={
        "type": "object",
        "properties": {"cmd": {"type": "string", "minLength": 1, "examples": ["ls -la"]}},
        "required": ["cmd"],
        "additionalProperties": False,
    },
)


def chat(*texts: str, **kwargs: object) -> LLMSyscall:
    roles = ["user", "assistant"]
    messages = tuple(Message(role=roles[i % 2], content=t) for i, t in enumerate(texts))  # type: ignore[arg-type]
    return LLMSyscall(messages=messages, **kwargs)  # type: ignore[arg-type]


async def test_generation_counts_tokens(local_engine: LocalEngine) -> None:
    result = await generate(local_engine, chat("Say hello.", max_tokens=12), owner=1001)
    assert result.usage.prompt_tokens > 5
    assert 1 <= result.usage.completion_tokens <= 12
    assert result.usage.prefilled_tokens + result.usage.reused_tokens == result.usage.prompt_tokens
    assert result.finish_reason in ("stop", "length")
    await local_engine.release(1001)


async def test_two_processes_are_batched_in_one_decode_step(local_engine: LocalEngine) -> None:
    before = local_engine.stats.multi_sequence_decodes
    requests = [
        chat(f"Count from one to {n}.", max_tokens=24, sampling=Sampling(ignore_eos=True)) for n in (5, 9)
    ]
    results = await asyncio.gather(
        *(generate(local_engine, r, owner=1010 + i) for i, r in enumerate(requests))
    )
    assert [r.usage.completion_tokens for r in results] == [24, 24]
    assert local_engine.stats.multi_sequence_decodes - before >= 20
    assert local_engine.stats.max_sequences_in_one_decode >= 2


async def test_second_call_of_a_process_reuses_its_prefix(local_engine: LocalEngine) -> None:
    first = await generate(local_engine, chat("Name a colour.", max_tokens=8), owner=1020)
    follow_up = chat("Name a colour.", first.content, "Name another one.", max_tokens=8)
    second = await generate(local_engine, follow_up, owner=1020)
    assert second.usage.reused_tokens > 0
    assert second.usage.reused_tokens >= first.usage.prompt_tokens - 1
    assert second.usage.prefilled_tokens == second.usage.prompt_tokens - second.usage.reused_tokens
    # a different process gets no reuse of someone else's cache
    other = await generate(local_engine, follow_up, owner=1021)
    assert other.usage.reused_tokens == 0
    for owner in (1020, 1021):
        await local_engine.release(owner)


@pytest.fixture(scope="module")
def deterministic_engine(calibration_file: Path) -> Iterator[LocalEngine]:
    """Output that does not depend on what else the engine holds (the shared engine's cache is full of other
    tests' sequences, and in the default mode their placement changes the last bits of the logits)."""
    config = LocalEngineConfig(
        n_ctx=2048, n_seq_max=2, max_concurrency=2, deterministic=True, calibration_file=str(calibration_file)
    )
    engine = LocalEngine(config)
    yield engine
    asyncio.run(engine.close())


async def test_greedy_output_is_deterministic(deterministic_engine: LocalEngine) -> None:
    request = chat("Write one sentence about rivers.", max_tokens=20)
    a = await generate(deterministic_engine, request, owner=1030)
    b = await generate(deterministic_engine, request, owner=1031)
    assert a.content == b.content


async def test_tool_calls_are_always_schema_valid(local_engine: LocalEngine) -> None:
    tasks = [
        "List the files here.",
        "How much disk space is free?",
        "What is the time?",
        "Show running processes.",
    ]
    for i, task in enumerate(tasks):
        request = chat(task, tools=(SHELL,), tool_choice="required", max_tokens=60)
        result = await generate(local_engine, request, owner=1040 + i)
        assert result.finish_reason == "tool_calls", result
        (call,) = result.tool_calls
        assert call.name == "shell.exec"
        jsonschema.validate(call.arguments, SHELL.parameters)


async def test_response_schema_output_is_valid_json(local_engine: LocalEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    result = await generate(
        local_engine,
        chat("Give a city and its population as JSON.", response_schema=schema, max_tokens=60),
        owner=1050,
    )
    assert result.finish_reason == "stop"
    jsonschema.validate(json.loads(result.content), schema)


async def test_stop_strings_and_max_tokens(local_engine: LocalEngine) -> None:
    counted = await generate(local_engine, chat("Count: 1, 2, 3, 4, 5, 6, 7, 8", max_tokens=5), owner=1060)
    assert counted.finish_reason == "length" and counted.usage.completion_tokens == 5
    free = await generate(local_engine, chat("Write a long story about a cat.", max_tokens=40), owner=1061)
    assert len(free.content) > 3
    stop = free.content[1:3]
    stopped = await generate(
        local_engine, chat("Write a long story about a cat.", max_tokens=40, stop=(stop,)), owner=1062
    )
    assert stopped.finish_reason == "stop"
    assert stop not in stopped.content and free.content.startswith(stopped.content)


async def test_cancelling_a_generation_frees_its_slot(local_engine: LocalEngine) -> None:
    long = chat("Tell a very long story.", max_tokens=400, sampling=Sampling(ignore_eos=True))
    decoded = local_engine.stats.tokens_decoded
    task = asyncio.create_task(generate(local_engine, long, owner=1070))
    await until(lambda: local_engine.stats.tokens_decoded > decoded + 20, "the generation to run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await local_engine.release(1070)
    result = await generate(local_engine, chat("Hi", max_tokens=4), owner=1071)
    assert result.usage.completion_tokens >= 1
    # released on the engine thread before the next call ran
    assert not any(entry.owner == 1070 for entry in local_engine.kv_entries())


async def test_bad_requests_fail_cleanly(local_engine: LocalEngine) -> None:
    with pytest.raises(ContextOverflow, match="does not fit"):
        await generate(local_engine, chat("word " * 9000, max_tokens=4), owner=1080)
    with pytest.raises(InvalidSyscall, match="grammar"):
        await generate(
            local_engine,
            chat("x", response_schema={"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}),
            owner=1081,
        )
    # the engine still serves
    assert (await generate(local_engine, chat("Hi", max_tokens=3), owner=1082)).usage.completion_tokens >= 1


async def test_seeded_sampling_is_reproducible(deterministic_engine: LocalEngine) -> None:
    def sampled(seed: int) -> LLMSyscall:
        return chat(
            "Invent a name for a robot.",
            max_tokens=16,
            sampling=Sampling(temperature=1.0, top_p=0.9, seed=seed),
        )

    a = await generate(deterministic_engine, sampled(7), owner=1090)
    b = await generate(deterministic_engine, sampled(7), owner=1091)
    assert a.content == b.content
    assert a.usage.completion_tokens >= 1


async def test_decoding_never_blocks_the_event_loop(local_engine: LocalEngine) -> None:
    request = chat("Tell a story.", max_tokens=60, sampling=Sampling(ignore_eos=True))
    generation = asyncio.create_task(generate(local_engine, request, owner=1095))
    decoded = local_engine.stats.tokens_decoded
    # the loop keeps turning while the engine thread decodes: this coroutine sees tokens appear
    await until(lambda: local_engine.stats.tokens_decoded >= decoded + 10, "tokens decoded meanwhile")
    assert not generation.done()
    assert (await generation).usage.completion_tokens == 60
