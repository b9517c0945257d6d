"""OpenAI's chat request mapped to an LLM syscall, and a result mapped back to OpenAI's answer, without a
server: every branch of the wire, and the answer checked by OpenAI's own client types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types import Model as OpenAIModel
from openai.types.chat import ChatCompletion as OpenAIChatCompletion
from pydantic import ValidationError

from aios.api.openai_wire import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    GENERIC_OBJECT,
    MAX_TOKENS_CAP,
    NO_PARAMETERS,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    WireError,
    completion,
    to_syscall,
)
from aios.kernel.errors import InvalidSyscall
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, ToolCall, ToolSpec, Usage

HELLO: dict[str, Any] = {"role": "user", "content": "Hello"}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLOCK_TOOL: dict[str, Any] = {"type": "function", "function": {"name": "clock.now"}}


def syscall(*, last_step: bool = False, **fields: Any) -> LLMSyscall:
    """The syscall for a request body as a client sends it (`messages` defaults to one user message)."""
    body = ChatCompletionRequest.model_validate({"model": "local", "messages": [HELLO], **fields})
    return to_syscall(body, model="local", last_step=last_step)


def refused(**fields: Any) -> WireError:
    with pytest.raises(WireError) as caught:
        syscall(**fields)
    return caught.value


# ---- messages ------------------------------------------------------------------------------------------


def test_a_conversation_of_every_role_becomes_the_syscalls_messages() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Answer in English."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Weather"}, {"type": "text", "text": "in Paris?"}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "clock.now", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I cannot say more."}]},
    ]
    call = syscall(messages=messages, tools=[WEATHER_TOOL, CLOCK_TOOL], last_step=True)
    assert call.messages == (
        Message(role="system", content="Be brief."),
        Message(role="system", content="Answer in English."),
        Message(role="user", content="Weather\nin Paris?"),
        Message(
            role="assistant",
            content="",
            tool_calls=(
                ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                ToolCall(id="call_2", name="clock.now", arguments={}),
            ),
        ),
        Message(role="tool", content="sunny, 21 C", tool_call_id="call_1"),
        Message(role="tool", content="noon", tool_call_id="call_2"),
        Message(role="assistant", content="I cannot say more."),
    )
    assert (call.model, call.last_step, call.memory) == ("local", True, False)


def test_a_tool_message_without_the_call_it_answers_is_refused() -> None:
    error = refused(messages=[HELLO, {"role": "tool", "content": "sunny"}])
    assert error.param == "messages[1].tool_call_id"
    assert isinstance(error, InvalidSyscall)  # answered as the caller's mistake


def test_the_legacy_function_role_is_refused() -> None:
    error = refused(messages=[HELLO, {"role": "function", "name": "f", "content": "x"}])
    assert error.param == "messages[1].role" and "use 'tool'" in str(error)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "text", "text": 42},
        {"text": "no type"},
    ],
)
def test_parts_other_than_text_are_refused_naming_the_content(part: dict[str, Any]) -> None:
    message = {"role": "user", "content": [{"type": "text", "text": "Look:"}, part]}
    error = refused(messages=[{"role": "system", "content": "Hi"}, message])
    assert error.param == "messages[1].content"
    assert str(error).startswith(f"messages[1].content[1]: {part.get('type')!r} parts are not supported")


@pytest.mark.parametrize(
    ("arguments", "problem"), [("{not json", "is not valid JSON"), ("[1, 2]", "must be a JSON object")]
)
def test_an_assistant_call_with_arguments_that_are_no_json_object_is_refused(
    arguments: str, problem: str
) -> None:
    assistant = {
        "role": "assistant",
        "tool_calls": [
            {"id": "a", "function": {"name": "clock.now", "arguments": "{}"}},
            {"id": "b", "function": {"name": "get_weather", "arguments": arguments}},
        ],
    }
    error = refused(messages=[HELLO, assistant])
    assert error.param == "messages[1].tool_calls[1].function.arguments" and problem in str(error)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"tools": [WEATHER_TOOL, {"function": {"name": "has spaces"}}]}, ("tools", 1, "function", "name")),
        (
            {"tool_choice": {"function": {"name": "x" * 65}}},
            ("tool_choice", "NamedToolChoice", "function", "name"),
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "a", "function": {"name": "", "arguments": ""}}],
                    }
                ]
            },
            ("messages", 0, "tool_calls", 0, "function", "name"),
        ),
    ],
)
def test_a_function_name_the_kernel_cannot_carry_is_refused_where_it_is(
    fields: dict[str, Any], where: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate({"model": "local", "messages": [HELLO], **fields})
    assert any(e["loc"] == where for e in caught.value.errors()), caught.value.errors()


def test_what_the_kernel_refuses_in_a_request_built_in_code_is_a_wire_error() -> None:
    body = ChatCompletionRequest.model_validate(
        {"model": "local", "messages": [HELLO], "tools": [WEATHER_TOOL]}
    )
    tool = body.tools[0] if body.tools else None
    assert tool is not None
    unchecked = tool.model_copy(update={"function": tool.function.model_copy(update={"name": "has spaces"})})
    with pytest.raises(WireError, match="does not fit the model's interface: name: String should match"):
        to_syscall(body.model_copy(update={"tools": [unchecked]}), model="local", last_step=False)


# ---- tools ---------------------------------------------------------------------------------------------


def test_tools_are_described_and_the_model_chooses_by_default() -> None:
    call = syscall(tools=[WEATHER_TOOL, CLOCK_TOOL])
    assert call.tools == (
        ToolSpec(
            name="get_weather",
            description="The weather in a city",
            parameters=WEATHER_TOOL["function"]["parameters"],
        ),
        ToolSpec(name="clock.now", description="", parameters=NO_PARAMETERS),
    )
    assert (call.tool_choice, call.tool_name) == ("auto", None)


def test_no_tools_means_none_offered() -> None:
    call = syscall()
    assert (call.tools, call.tool_choice, call.tool_name) == ((), "auto", None)


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_a_choice_by_word_is_passed_on(choice: str) -> None:
    call = syscall(tools=[WEATHER_TOOL], tool_choice=choice)
    assert (call.tool_choice, call.tool_name, len(call.tools)) == (choice, None, 1)


def test_a_named_choice_forces_that_tool_and_still_describes_every_tool() -> None:
    call = syscall(
        tools=[WEATHER_TOOL, CLOCK_TOOL], tool_choice={"type": "function", "function": {"name": "clock.now"}}
    )
    assert (call.tool_choice, call.tool_name) == ("required", "clock.now")
    assert call.choosable_tools() == (call.tools[1],) and len(call.tools) == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tool_choice": "required"}, "'required' needs tools"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"function": {"name": "clock.now"}}}, "not among tools"),
        ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "not among tools"),
    ],
)
def test_a_choice_the_tools_cannot_meet_is_refused(fields: dict[str, Any], message: str) -> None:
    error = refused(**fields)
    assert error.param == "tool_choice" and message in str(error)


# ---- the answer's form, budget, stops and sampling -----------------------------------------------------


def test_a_json_schema_response_format_passes_its_schema() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    spec = {"name": "person", "schema": schema, "strict": True}
    assert syscall(response_format={"type": "json_schema", "json_schema": spec}).response_schema == schema


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [
        ({"type": "json_object"}, GENERIC_OBJECT),
        ({"type": "json_schema", "json_schema": {"name": "anything"}}, GENERIC_OBJECT),
        ({"type": "text"}, None),
        (None, None),
    ],
)
def test_other_response_formats(
    response_format: dict[str, Any] | None, schema: dict[str, Any] | None
) -> None:
    assert syscall(response_format=response_format).response_schema == schema


def test_an_unknown_response_format_does_not_validate() -> None:
    with pytest.raises(ValidationError, match="response_format"):
        ChatCompletionRequest.model_validate(
            {"model": "local", "messages": [HELLO], "response_format": {"type": "grammar"}}
        )


@pytest.mark.parametrize(
    ("stop", "stops"),
    [("\n", ("\n",)), (["END", "", "STOP"], ("END", "STOP")), ([], ()), (None, ()), ("", ())],
)
def test_stop_strings_one_or_several_and_never_empty(
    stop: str | list[str] | None, stops: tuple[str, ...]
) -> None:
    assert syscall(stop=stop).stop == stops


@pytest.mark.parametrize(
    ("fields", "max_tokens"),
    [
        ({}, DEFAULT_MAX_TOKENS),
        ({"max_tokens": 7}, 7),
        ({"max_completion_tokens": 9}, 9),
        ({"max_tokens": 7, "max_completion_tokens": 9}, 9),
        ({"max_completion_tokens": 10**9}, MAX_TOKENS_CAP),
    ],
)
def test_the_output_budget(fields: dict[str, Any], max_tokens: int) -> None:
    assert syscall(**fields).max_tokens == max_tokens


def test_sampling_defaults_to_openais() -> None:
    sampling = syscall().sampling
    assert (sampling.temperature, sampling.top_p, sampling.seed) == (DEFAULT_TEMPERATURE, 1.0, None)
    assert (sampling.repeat_penalty, sampling.ignore_eos) == (1.0, False)


def test_sampling_as_asked() -> None:
    sampling = syscall(
        temperature=0.3, top_p=0.9, seed=2**40 + 5, repetition_penalty=1.1, ignore_eos=True
    ).sampling
    assert (sampling.temperature, sampling.top_p, sampling.seed) == (0.3, 0.9, 5)  # seeds fold into 32 bits
    assert (sampling.repeat_penalty, sampling.ignore_eos) == (1.1, True)


def test_top_p_zero_means_greedy() -> None:
    sampling = syscall(temperature=0.8, top_p=0.0).sampling
    assert (sampling.temperature, sampling.top_p) == (0.0, 1.0)


# ---- what the endpoint refuses or ignores --------------------------------------------------------------


def test_more_than_one_choice_is_refused() -> None:
    error = refused(n=2)
    assert error.param == "n" and "n=2" in str(error)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("frequency_penalty", 0.5),
        ("presence_penalty", -0.5),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("logit_bias", {"50256": -100}),
        ("functions", [{"name": "f", "parameters": {}}]),
        ("function_call", "auto"),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("prediction", {"type": "content", "content": "x"}),
    ],
)
def test_a_known_field_that_cannot_be_honoured_is_refused_by_name(param: str, value: Any) -> None:
    error = refused(**{param: value})
    assert error.param == param and str(error).startswith(f"{param} is not supported")
    assert ("use tools and tool_choice" in str(error)) == param.startswith("function")


def test_fields_at_their_neutral_values_and_unknown_fields_are_accepted() -> None:
    call = syscall(
        n=1,
        frequency_penalty=0,
        presence_penalty=0.0,
        logprobs=False,
        top_logprobs=0,
        logit_bias={},
        modalities=["text"],
        parallel_tool_calls=False,
        stream=True,
        stream_options={"include_usage": True},
        user="alice",
        metadata={"tag": "x"},
        store=False,
        service_tier="auto",
        reasoning_effort="low",
    )
    assert call.messages == (Message(role="user", content="Hello"),)


# ---- the answer ----------------------------------------------------------------------------------------


def result(content: str, *calls: ToolCall, finish: str = "stop") -> LLMResult:
    return LLMResult.model_validate(
        {
            "content": content,
            "tool_calls": calls,
            "finish_reason": finish,
            "usage": Usage(prompt_tokens=20, completion_tokens=6, reused_tokens=16, prefilled_tokens=4),
            "model": "local",
        }
    )


def answer(llm_result: LLMResult) -> OpenAIChatCompletion:
    """The answer as OpenAI's client parses it (validated, so a wrong field fails here)."""
    out = completion(llm_result, completion_id="chatcmpl-9", created=1700000000, model="local")
    return OpenAIChatCompletion.model_validate(json.loads(out.model_dump_json()))


def test_a_text_answer() -> None:
    parsed = answer(result("Hello!"))
    assert (parsed.id, parsed.object, parsed.created, parsed.model) == (
        "chatcmpl-9",
        "chat.completion",
        1700000000,
        "local",
    )
    (choice,) = parsed.choices
    assert (choice.index, choice.finish_reason, choice.message.role) == (0, "stop", "assistant")
    assert (choice.message.content, choice.message.tool_calls, choice.message.refusal) == (
        "Hello!",
        None,
        None,
    )
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens, parsed.usage.total_tokens) == (
        20,
        6,
        26,
    )
    assert (
        parsed.usage.prompt_tokens_details is not None
        and parsed.usage.prompt_tokens_details.cached_tokens == 16
    )


def test_an_empty_answer_cut_at_its_budget_has_empty_content() -> None:
    (choice,) = answer(result("", finish="length")).choices
    assert (choice.message.content, choice.finish_reason) == ("", "length")


def test_an_answer_of_only_tool_calls_has_null_content() -> None:
    calls = (
        ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris", "units": ["C"]}),
        ToolCall(id="call_2", name="clock.now", arguments={}),
    )
    (choice,) = answer(result("", *calls, finish="tool_calls")).choices
    assert choice.message.content is None and choice.finish_reason == "tool_calls"
    tool_calls = choice.message.tool_calls or []
    assert [(c.id, c.type) for c in tool_calls] == [("call_1", "function"), ("call_2", "function")]
    functions = [c.function for c in tool_calls]  # type: ignore[union-attr]
    assert [(f.name, json.loads(f.arguments)) for f in functions] == [
        ("get_weather", {"city": "Paris", "units": ["C"]}),
        ("clock.now", {}),
    ]


def test_text_and_a_tool_call_together() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    (choice,) = answer(result("Let me check.", call, finish="tool_calls")).choices
    assert choice.message.content == "Let me check." and len(choice.message.tool_calls or []) == 1


def test_model_cards_are_openai_models() -> None:
    cards = ModelList(data=[ModelCard(id="local", created=1, kind="local", max_concurrency=8)])
    for card in json.loads(cards.model_dump_json())["data"]:
        parsed = OpenAIModel.model_validate(card)
        assert (parsed.id, parsed.object, parsed.owned_by) == ("local", "model", "aios")
