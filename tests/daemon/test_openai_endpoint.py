"""The OpenAI-compatible endpoint, driven by the official `openai` client as any OpenAI application is:
completions, streaming, tools, JSON schemas, conversations that keep their KV cache across the client's own
tool calls, users kept apart, and OpenAI-shaped errors. What needs no model runs in-process on the fake
engine; the model serves what only it shows (streams, schemas, tool calls, the KV cache)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from openai import AsyncOpenAI

from aios.api.openai_routes import OpenAI
from aios.daemon import Daemon
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.engines.local import LocalEngine
from aios.kernel.events import KernelEvent
from aios.kernel.records import AuditRow
from tests.daemon.conftest import asgi_client, user_token
from tests.kernel.helpers import prefixes_unshared
from tests.kernel.openai_stub import OpenAIStub, completion

WEATHER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_PARAMETERS,
    },
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a time zone.",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}
IMAGE: Any = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
ASK_WEATHER: Any = [{"role": "user", "content": "What is the weather in Paris?"}]


def openai_client(daemon: Daemon, token: str, **options: Any) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=f"http://127.0.0.1:{daemon.port}/v1", api_key=token, max_retries=0, timeout=120, **options
    )


def asgi_openai(daemon: Daemon, token: str, **options: Any) -> AsyncOpenAI:
    """The client on the daemon's app in this process (a streamed answer would come back whole)."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=daemon.app), timeout=120)
    return AsyncOpenAI(base_url="http://aios/v1", api_key=token, max_retries=0, http_client=http, **options)


async def audit(daemon: Daemon, token: str, pid: int) -> list[AuditRow]:
    """The process's audit rows, read through the user API with the owner's own token."""
    async with asgi_client(daemon, token) as api:
        answer = await api.get(f"/v1/processes/{pid}/logs")
    assert answer.status_code == 200, answer.text
    return [AuditRow.model_validate(row) for row in answer.json()["audit"]]


async def test_a_completion_is_an_audited_syscall_of_a_process_the_user_owns(fake_daemon: Daemon) -> None:
    alice = user_token(fake_daemon, "alice")
    async with asgi_openai(fake_daemon, alice) as llm:
        raw = await llm.chat.completions.with_raw_response.create(
            model="local", messages=[{"role": "user", "content": "Say hello."}], temperature=0, max_tokens=6
        )
        answer = raw.parse()
        assert [m.id for m in (await llm.models.list()).data] == ["local"]
        assert (await llm.models.retrieve("local")).id == "local"
    assert answer.object == "chat.completion" and answer.model == "local"
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length") and choice.message.tool_calls is None
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 6
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    pid = int(raw.headers["x-aios-pid"])
    record = await fake_daemon.kernel.wait(pid)  # no conversation named: a program of one call
    assert (record.owner, record.agent, record.state) == ("alice", "openai", "done")
    assert (record.llm_calls, record.tokens_out) == (1, usage.completion_tokens)
    [row] = await audit(fake_daemon, alice, pid)
    assert (row.kind, row.target, row.status, row.tokens_out) == (
        "llm",
        "local",
        "ok",
        usage.completion_tokens,
    )


@pytest.mark.model
async def test_a_stream_joins_to_the_same_answer_and_stops_where_it_does(
    daemon: Daemon, local_engine: LocalEngine
) -> None:
    messages: Any = [{"role": "user", "content": "Write a sentence about the sea."}]
    with prefixes_unshared(local_engine):  # four calls, each from the same cache state
        async with openai_client(daemon, user_token(daemon, "alice")) as llm:
            whole = await llm.chat.completions.create(
                model="local", messages=messages, temperature=0, max_tokens=24
            )
            chunks = [
                chunk
                async for chunk in await llm.chat.completions.create(
                    model="local",
                    messages=messages,
                    temperature=0,
                    max_tokens=24,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            ]
            text = whole.choices[0].message.content or ""
            stop = text.split()[3]  # a stop string in the middle of the answer: the stream must not pass it
            cut = await llm.chat.completions.create(
                model="local", messages=messages, temperature=0, max_tokens=24, stop=[stop]
            )
            cut_chunks = [
                chunk
                async for chunk in await llm.chat.completions.create(
                    model="local", messages=messages, temperature=0, max_tokens=24, stop=[stop], stream=True
                )
            ]
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == text and len(pieces) > 1  # as generated, not in one piece at the end
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    cut_text = "".join(c.choices[0].delta.content or "" for c in cut_chunks)
    assert cut_text == cut.choices[0].message.content and stop not in cut_text and len(cut_text) < len(text)
    assert cut_chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.model
async def test_a_required_tool_call_fits_the_tools_schema_streamed_or_not(daemon: Daemon) -> None:
    async with openai_client(daemon, user_token(daemon, "alice")) as llm:
        answer = await llm.chat.completions.create(
            model="local",
            messages=ASK_WEATHER,
            tools=[WEATHER, TIME],
            tool_choice="required",
            temperature=0,
            max_tokens=64,
        )
        chunks = [
            chunk
            async for chunk in await llm.chat.completions.create(
                model="local",
                messages=ASK_WEATHER,
                tools=[WEATHER, TIME],
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
                temperature=0,
                max_tokens=64,
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, TIME)}
    assert call.type == "function" and call.function.name in offered and call.id
    jsonschema.validate(json.loads(call.function.arguments), offered[call.function.name])
    # a named choice forces one tool but still describes both: the prompt is the same as without it
    assert answer.usage is not None and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == answer.usage.prompt_tokens
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or ()]
    assert [(d.index, d.function and d.function.name) for d in deltas] == [(0, "get_weather")]
    assert deltas[0].function is not None and deltas[0].function.arguments is not None
    jsonschema.validate(json.loads(deltas[0].function.arguments), WEATHER_PARAMETERS)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


@pytest.mark.model
async def test_a_json_schema_response_format_is_followed(daemon: Daemon) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    async with openai_client(daemon, user_token(daemon, "alice")) as llm:
        answer = await llm.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": "Invent a person."}],
            response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
            temperature=0,
            max_tokens=48,
        )
        loose = await llm.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": "Describe a cat as JSON."}],
            response_format={"type": "json_object"},
            temperature=0,
            max_tokens=48,
        )
    jsonschema.validate(json.loads(answer.choices[0].message.content or ""), schema)
    if loose.choices[0].finish_reason == "stop":  # cut at max_tokens, any JSON is unfinished
        assert isinstance(json.loads(loose.choices[0].message.content or ""), dict)


@pytest.mark.model
async def test_a_conversation_keeps_its_kv_cache_across_the_clients_tool_call(daemon: Daemon) -> None:
    alice = user_token(daemon, "alice")
    tool_result = {"role": "tool", "content": "sunny, 21 C"}

    async def two_calls(llm: AsyncOpenAI) -> tuple[Any, Any, int, int]:
        first = await llm.chat.completions.with_raw_response.create(
            model="local",
            messages=ASK_WEATHER,
            tools=[WEATHER],
            tool_choice="required",
            temperature=0,
            max_tokens=64,
        )
        message = first.parse().choices[0].message
        [call] = message.tool_calls or []
        history = [
            *ASK_WEATHER,
            message.model_dump(exclude_none=True),
            {**tool_result, "tool_call_id": call.id},
        ]
        second = await llm.chat.completions.with_raw_response.create(
            model="local", messages=history, tools=[WEATHER], temperature=0, max_tokens=8
        )
        return (
            first.parse(),
            second.parse(),
            int(first.headers["x-aios-pid"]),
            int(second.headers["x-aios-pid"]),
        )

    async with openai_client(daemon, alice, default_headers={"X-AIOS-Program": "trip"}) as llm:
        first, second, pid, second_pid = await two_calls(llm)
    assert second_pid == pid
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached > first.usage.prompt_tokens // 2, (cached, first.usage.prompt_tokens)
    # the gap was the client's tool call: timed as a pause of `client.get_weather`, with the KV decision
    rows = await audit(daemon, alice, pid)
    assert [r.kind for r in rows] == ["llm", "llm"]
    pause = rows[1].detail["pause"]
    assert pause["tool"] == "client.get_weather" and pause["s"] >= 0
    assert pause["kv"]["action"] in ("pin", "swap", "keep", "drop") and pause["kv"]["policy"]
    assert rows[1].detail["reused_tokens"] == cached
    assert daemon.kernel.process(pid).state == "running"  # the conversation lives on for the next call

    async with openai_client(daemon, alice) as llm:  # no conversation: each call a fresh process
        _, alone, one, other = await two_calls(llm)
    # ... which starts from the prompt prefix alice's earlier process left in the engine
    assert one != other and alone.usage.prompt_tokens_details.cached_tokens > 0
    async with openai_client(daemon, user_token(daemon, "bob")) as llm:  # never from another user's
        first_of_bob, _, _, _ = await two_calls(llm)
    assert first_of_bob.usage.prompt_tokens_details.cached_tokens == 0


async def test_conversations_are_per_user_and_named_by_header_or_user_field(fake_daemon: Daemon) -> None:
    alice, bob = user_token(fake_daemon, "alice"), user_token(fake_daemon, "bob")
    hello: Any = [{"role": "user", "content": "Hi"}]

    async def pid_of(token: str, **options: Any) -> int:
        async with asgi_openai(fake_daemon, token) as llm:
            raw = await llm.chat.completions.with_raw_response.create(
                model="local", messages=hello, temperature=0, max_tokens=1, **options
            )
        return int(raw.headers["x-aios-pid"])

    same = {"extra_headers": {"X-AIOS-Program": "shared-name"}}
    alices = await pid_of(alice, **same)
    bobs = await pid_of(bob, **same)
    assert alices != bobs and await pid_of(alice, **same) == alices
    assert (fake_daemon.kernel.process(alices).owner, fake_daemon.kernel.process(bobs).owner) == (
        "alice",
        "bob",
    )
    assert await pid_of(alice, user="u-1") == await pid_of(alice, user="u-1") != alices
    async with asgi_client(fake_daemon, bob) as api:  # bob cannot see alice's conversation at all
        assert (await api.get(f"/v1/processes/{alices}")).status_code == 404
    await fake_daemon.family(OpenAI).aclose()  # the daemon stops: conversations end as finished programs
    record = fake_daemon.kernel.process(alices)
    assert (record.state, record.result) == ("done", "the daemon stopped")


@pytest.mark.model
async def test_a_client_that_hangs_up_mid_stream_frees_its_conversation(daemon: Daemon) -> None:
    alice = user_token(daemon, "alice")
    story: Any = [{"role": "user", "content": "Tell a long story."}]
    syscall_to_pieces: dict[str, int] = {}  # pieces of output the engine produced, 8 tokens each

    def count(event: KernelEvent) -> None:
        if event.kind == "llm_output" and event.syscall_id:
            syscall_to_pieces[event.syscall_id] = syscall_to_pieces.get(event.syscall_id, 0) + 1

    unsubscribe = daemon.kernel.subscribe(count)
    async with openai_client(daemon, alice, default_headers={"X-AIOS-Program": "impatient"}) as llm:
        stream = await llm.chat.completions.create(
            model="local", messages=story, max_tokens=2000, extra_body={"ignore_eos": True}, stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        await stream.close()  # gone after its first words, long before 2000 tokens
        async with asyncio.timeout(60):  # the turn is free again: the next call is served
            raw = await llm.chat.completions.with_raw_response.create(
                model="local", messages=story, temperature=0, max_tokens=2
            )
    unsubscribe()
    pid = int(raw.headers["x-aios-pid"])
    rows = await audit(daemon, alice, pid)
    assert [(r.kind, r.status) for r in rows] == [("llm", "killed"), ("llm", "ok")]
    assert syscall_to_pieces[rows[0].syscall_id] < 1000 // 8  # cut off, not generated to its 2000 tokens


async def test_bad_requests_raise_the_openai_clients_own_errors(fake_daemon: Daemon) -> None:
    alice = user_token(fake_daemon, "alice")
    hello: Any = [{"role": "user", "content": "Hi"}]
    async with asgi_openai(fake_daemon, alice) as llm:
        cases: list[tuple[type[openai.APIStatusError], str, dict[str, Any]]] = [
            (openai.BadRequestError, "messages.0.role", {"messages": [{"role": "wizard", "content": "x"}]}),
            (openai.BadRequestError, "tool_call_id", {"messages": [{"role": "tool", "content": "x"}]}),
            (openai.BadRequestError, "messages", {"messages": []}),
            (openai.BadRequestError, "n=2", {"messages": hello, "n": 2}),
            (
                openai.BadRequestError,
                "fetches no remote images",
                {"messages": [{"role": "user", "content": [IMAGE]}]},
            ),
            (openai.BadRequestError, "not valid JSON", {"messages": [
                {"role": "assistant", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                ]}
            ]}),
            (openai.BadRequestError, "logprobs", {"messages": hello, "logprobs": True}),
            (openai.NotFoundError, "no model named 'ghost'", {"messages": hello, "model": "ghost"}),
        ]  # fmt: skip
        for error, text, arguments in cases:
            with pytest.raises(error) as raised:
                await llm.chat.completions.create(**{"model": "local", **arguments})
            assert text in raised.value.message, (text, raised.value.message)
            assert isinstance(raised.value.body, dict) and raised.value.type, raised.value.body
        with pytest.raises(openai.NotFoundError) as missing:
            await llm.models.retrieve("ghost")
        assert missing.value.code == "model_not_found"
    async with asgi_openai(fake_daemon, "aiosu_wrong") as llm:
        with pytest.raises(openai.AuthenticationError, match="unknown, expired or revoked token"):
            await llm.chat.completions.create(model="local", messages=hello)
    async with asgi_client(fake_daemon) as bare:
        answer = await bare.post("/v1/chat/completions", json={"model": "local", "messages": hello})
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert "Authorization: Bearer" in answer.json()["error"]["message"]


async def test_a_configured_litellm_model_is_reached_by_name(fake_daemon: Daemon) -> None:
    """A model of `[models]` served by a provider (a stub OpenAI server on 127.0.0.1): the endpoint routes
    the call through litellm, and a client's function name survives the provider's wire names."""
    with OpenAIStub() as provider:
        fake_daemon.kernel.engines.models["remote"] = RemoteModelConfig(
            model="openai/stub-model", api_base=provider.base_url, api_key="sk-provider"
        )
        call = {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        provider.add(200, completion(tool_calls=[call], finish_reason="tool_calls"))
        async with asgi_openai(fake_daemon, user_token(fake_daemon, "alice")) as llm:
            answer = await llm.chat.completions.create(
                model="remote",
                messages=ASK_WEATHER,
                tools=[WEATHER, TIME],
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
                max_tokens=32,
            )
    [sent] = provider.requests
    assert sent["auth"] == "Bearer sk-provider" and sent["body"]["model"] == "stub-model"
    assert [t["function"]["name"] for t in sent["body"]["tools"]] == ["get_weather", "get_time"]
    assert sent["body"]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert answer.model == "remote" and answer.choices[0].finish_reason == "tool_calls"
    [made] = answer.choices[0].message.tool_calls or []
    assert (made.id, made.function.name) == ("call_9", "get_weather")
