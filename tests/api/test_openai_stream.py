"""The streamed chat completion without a server: the stop-string holdback, and the SSE events read the way
OpenAI's Python client reads them."""

from __future__ import annotations

import itertools
import json
import logging
import random
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import ErrorObject
from openai.types.chat import ChatCompletion as OpenAIChatCompletion
from openai.types.chat import ChatCompletionChunk as OpenAIChunk

from aios.api.openai_stream import DONE, ChunkWriter, TextRelease
from aios.api.openai_wire import ErrorBody, ErrorDetail, completion
from aios.kernel.syscalls import LLMResult, ToolCall, Usage

NUM_RANDOM_CASES = 300


def release_all(pieces: list[str], stops: tuple[str, ...], content: str) -> list[str]:
    """What the client receives, piece by piece, checking on the way that nothing past the answer leaves."""
    release = TextRelease(stops)
    out = []
    for piece in pieces:
        out.append(release.push(piece))
        sent = "".join(out)
        assert content.startswith(sent), (sent, content)
        assert not any(s in sent for s in stops), sent
    out.append(release.finish(content))
    return out


def engine_run(text: str, stops: tuple[str, ...]) -> tuple[str, str]:
    """What an engine generating `text` one character at a time produces: the raw text up to where the first
    stop string completed, and the answer cut where the earliest stop string begins in it."""
    for end in range(1, len(text) + 1):
        hits = [i for i in (text[:end].find(s) for s in stops) if i >= 0]
        if hits:
            return text[:end], text[: min(hits)]
    return text, text


def split(text: str, rng: random.Random) -> list[str]:
    """`text` in random pieces, as the engine hands them over (a piece per few tokens)."""
    if not text:
        return []
    cuts = sorted(rng.sample(range(1, len(text)), k=rng.randint(0, len(text) - 1)))
    return [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]


def test_without_stop_strings_text_leaves_at_once() -> None:
    release = TextRelease(())
    assert [release.push(p) for p in ("Hel", "lo", " there")] == ["Hel", "lo", " there"]
    assert release.finish("Hello there") == ""


def test_the_possible_start_of_a_stop_string_is_held_back() -> None:
    release = TextRelease(("STOP",))
    assert release.push("Hello S") == "Hell"  # "o S" could still become "STOP"
    assert release.push("T") == "o"
    assert release.push("ART") == " ST"  # "START" was no stop string after all; "ART" could still begin one
    assert release.finish("Hello START") == "ART"


def test_a_stop_string_across_chunks_is_never_sent() -> None:
    pieces = ["The answer", " is 4", "2<|e", "nd|> and then some"]
    out = release_all(pieces, ("<|end|>",), "The answer is 42")
    assert "".join(out) == "The answer is 42"
    assert out[-2] == " 42"  # the stop string completes: what came before it goes out, nothing after


def test_a_stop_string_split_over_three_pieces() -> None:
    release = TextRelease(("END",))
    assert release.push("abc E") == "abc"
    assert release.push("N") == " "  # "EN" may yet become "END"
    assert release.push("D tail") == ""
    assert release.push(" more") == ""  # stopped: later text is never sent
    assert release.finish("abc ") == ""


def test_the_earliest_of_several_stop_strings_cuts() -> None:
    stops = ("\n\n", "Observation:", "<|end|>")
    raw = "Thought: look\nObserv"
    out = release_all([raw, "ation: x\n\n"], stops, "Thought: look\n")
    assert "".join(out) == "Thought: look\n"


def test_a_shorter_stop_string_found_inside_a_longer_one_cuts_first() -> None:
    release = TextRelease(("bc", "abcd"))
    assert release.push("xab") == ""
    assert release.push("c") == "xa"  # "bc" completed first, as the engine sees it
    assert release.finish("xa") == ""


def test_text_held_back_is_released_when_the_answer_ends() -> None:
    release = TextRelease(("STOP_HERE",))
    assert release.push("short") == ""
    assert release.finish("short") == "short"


def test_the_answer_that_does_not_continue_the_sent_text_adds_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = TextRelease(())
    assert release.push("Hello") == "Hello"
    with caplog.at_level(logging.WARNING, logger="aios.api.openai_stream"):
        assert release.finish("Goodbye") == ""
    assert "not a prefix" in caplog.text


def test_unicode_is_held_back_by_characters() -> None:
    stops = ("終わり", "🛑")
    out = release_all(["こんにちは世界、終", "わ", "り。続き"], stops, "こんにちは世界、")
    assert "".join(out) == "こんにちは世界、"
    out = release_all(["café ☕ 🛑", " après"], stops, "café ☕ ")
    assert "".join(out) == "café ☕ "


@pytest.mark.parametrize("seed", range(3))
def test_random_texts_and_chunks_join_to_the_engines_answer(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(NUM_RANDOM_CASES):
        stops = tuple({"".join(rng.choices("ab", k=rng.randint(1, 4))) for _ in range(rng.randint(0, 3))})
        text = "".join(rng.choices("abc", k=rng.randint(0, 24)))
        generated, content = engine_run(text, stops)
        out = release_all(split(generated, rng), stops, content)
        assert "".join(out) == content, (text, stops)


# ---- the SSE events -----------------------------------------------------------------------------------


def events(lines: list[bytes]) -> list[Any]:
    """The JSON of each `data:` event, `[DONE]` as the string; every event is one line and a blank line."""
    out: list[Any] = []
    for line in lines:
        text = line.decode()
        assert text.startswith("data: ") and text.endswith("\n\n") and text.count("\n") == 2, text
        data = text.removeprefix("data: ").rstrip("\n")
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def writer(*, include_usage: bool = False) -> ChunkWriter:
    return ChunkWriter(
        completion_id="chatcmpl-1", created=1700000000, model="local", include_usage=include_usage
    )


def result(content: str = "", *calls: ToolCall, finish: str = "stop") -> LLMResult:
    return LLMResult.model_validate(
        {
            "content": content,
            "tool_calls": calls,
            "finish_reason": finish,
            "usage": Usage(prompt_tokens=12, completion_tokens=5, reused_tokens=8),
            "model": "local",
        }
    )


WEATHER = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris", "days": 2})
TIME = ToolCall(id="call_2", name="clock.now", arguments={})


def test_the_role_chunk_opens_the_stream() -> None:
    (event,) = events([writer().role()])
    chunk = OpenAIChunk.model_validate(event)
    assert (chunk.id, chunk.created, chunk.model, chunk.object) == (
        "chatcmpl-1",
        1700000000,
        "local",
        "chat.completion.chunk",
    )
    assert chunk.choices[0].delta.role == "assistant" and chunk.choices[0].delta.content is None
    assert chunk.choices[0].finish_reason is None and chunk.usage is None


def test_text_chunks_carry_text_with_newlines_and_unicode_in_one_event() -> None:
    (event,) = events([writer().text("line one\nline two: ünïcødé 🙂")])
    chunk = OpenAIChunk.model_validate(event)
    assert chunk.choices[0].delta.content == "line one\nline two: ünïcødé 🙂"
    assert chunk.choices[0].delta.role is None and chunk.choices[0].delta.tool_calls is None


def test_the_end_sends_the_rest_the_finish_reason_then_done() -> None:
    lines = list(writer().end(result("Hello world"), " world"))
    parsed = events(lines)
    assert parsed[-1] == "[DONE]" and lines[-1] == DONE
    rest, final = (OpenAIChunk.model_validate(e) for e in parsed[:-1])
    assert rest.choices[0].delta.content == " world"
    assert final.choices[0].finish_reason == "stop" and final.choices[0].delta.content is None
    assert final.usage is None


def test_nothing_left_to_send_means_no_empty_text_chunk() -> None:
    w = writer()
    w.text("Hi")
    parsed = events(list(w.end(result("Hi", finish="length"), "")))
    assert len(parsed) == 2
    assert OpenAIChunk.model_validate(parsed[0]).choices[0].finish_reason == "length"


def test_an_empty_answer_still_sends_its_empty_text_but_calls_alone_send_none() -> None:
    empty = [OpenAIChunk.model_validate(e) for e in events(list(writer().end(result(""), "")))[:-1]]
    assert [c.choices[0].delta.content for c in empty] == ["", None]
    calls = events(list(writer().end(result("", WEATHER, finish="tool_calls"), "")))[:-1]
    assert [OpenAIChunk.model_validate(e).choices[0].delta.content for e in calls] == [None, None]


def test_tool_calls_come_indexed_before_the_finish_reason() -> None:
    parsed = events(list(writer().end(result("", WEATHER, TIME, finish="tool_calls"), "")))
    calls_chunk, final = (OpenAIChunk.model_validate(e) for e in parsed[:-1])
    calls = calls_chunk.choices[0].delta.tool_calls
    assert calls is not None
    assert [(c.index, c.id, c.type) for c in calls] == [(0, "call_1", "function"), (1, "call_2", "function")]
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Paris", "days": 2}
    assert final.choices[0].finish_reason == "tool_calls"


def test_usage_comes_last_with_no_choices_when_asked_for() -> None:
    parsed = events(list(writer(include_usage=True).end(result("Hi"), "")))
    assert parsed[-1] == "[DONE]"
    usage_chunk = OpenAIChunk.model_validate(parsed[-2])
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (12, 5)
    assert usage_chunk.usage.total_tokens == 17
    assert usage_chunk.usage.prompt_tokens_details is not None
    assert usage_chunk.usage.prompt_tokens_details.cached_tokens == 8


@pytest.mark.parametrize(
    ("answer", "pieces"),
    [
        (result("The capital of France is Paris."), ["The capital", " of France", " is Paris."]),
        (result("Let me check.", WEATHER, finish="tool_calls"), ["Let me", " check."]),
        (result("", WEATHER, TIME, finish="tool_calls"), []),
        (result(""), []),
    ],
)
def test_the_chunks_join_to_the_non_streamed_answer(answer: LLMResult, pieces: list[str]) -> None:
    w = writer(include_usage=True)
    release = TextRelease(())
    lines = [w.role(), *(w.text(text) for text in map(release.push, pieces) if text)]
    lines += list(w.end(answer, release.finish(answer.content)))
    state = ChatCompletionStreamState()
    for event in events(lines)[:-1]:
        state.handle_chunk(OpenAIChunk.model_validate(event))
    joined = state.get_final_completion()
    whole = OpenAIChatCompletion.model_validate(
        completion(answer, completion_id="chatcmpl-1", created=1700000000, model="local").model_dump(
            mode="json"
        )
    )
    assert joined.choices[0].message.content == whole.choices[0].message.content
    assert joined.choices[0].finish_reason == whole.choices[0].finish_reason
    assert [
        (c.id, c.function.name, c.function.arguments) for c in joined.choices[0].message.tool_calls or []
    ] == [
        (c.id, c.function.name, c.function.arguments)  # type: ignore[union-attr]
        for c in whole.choices[0].message.tool_calls or []
    ]
    assert joined.usage == whole.usage


def test_an_error_event_has_the_shape_the_client_raises() -> None:
    body = ErrorBody(
        error=ErrorDetail(message="the engine took too long", type="server_error", code="timeout")
    )
    (event,) = events([ChunkWriter.error(body)])
    assert set(event) == {"error"}  # the client raises on a mapping whose `error` is set
    error = ErrorObject.model_validate(event["error"])
    assert (error.message, error.type, error.param, error.code) == (
        "the engine took too long",
        "server_error",
        None,
        "timeout",
    )
