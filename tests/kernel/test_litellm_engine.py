"""The litellm engine against an OpenAI-compatible server on 127.0.0.1 (no network)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aios.kernel.engines.litellm_engine import LiteLLMEngine, RemoteModelConfig
from aios.kernel.errors import ContextOverflow, EngineAuthError, EngineRateLimited, EngineTimeout
from aios.kernel.kernel import Kernel
from aios.kernel.syscalls import LLMSyscall, Message, ToolSpec

from .openai_stub import OpenAIStub, completion, error

SHELL = ToolSpec(
    name="shell.exec",
    description="Run a command.",
    parameters={"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
)


@pytest.fixture
def stub():
    with OpenAIStub() as server:
        yield server


def engine(stub: OpenAIStub, **overrides: object) -> LiteLLMEngine:
    config = RemoteModelConfig(
        model="openai/stub-model",
        api_base=stub.base_url,
        api_key="sk-test",
        retry_backoff_s=0.01,
        **overrides,
    )
    return LiteLLMEngine(config, name="stub")


def ask(**kwargs: object) -> LLMSyscall:
    return LLMSyscall(messages=(Message(role="user", content="hi"),), max_tokens=16, **kwargs)  # type: ignore[arg-type]


async def test_completion_with_tool_call_and_usage(stub: OpenAIStub) -> None:
    stub.add(
        200,
        completion(
            tool_calls=[
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "shell__exec", "arguments": '{"cmd": "ls"}'},
                }
            ],
            cached=4,
        ),
    )
    result = await engine(stub).complete(ask(tools=(SHELL,)), owner=1)
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls[0].name == "shell.exec" and result.tool_calls[0].arguments == {"cmd": "ls"}
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.reused_tokens) == (
        11,
        3,
        4,
    )
    sent = stub.requests[0]
    assert sent["path"].endswith("/chat/completions")
    assert sent["auth"] == "Bearer sk-test"
    assert sent["body"]["tools"][0]["function"]["name"] == "shell__exec"
    assert sent["body"]["max_tokens"] == 16 and sent["body"]["messages"][0]["content"] == "hi"


async def test_a_named_tool_choice_forces_that_tool_by_its_wire_name(stub: OpenAIStub) -> None:
    stub.add(200, completion(content="ok"))
    await engine(stub).complete(ask(tools=(SHELL,), tool_choice="required", tool_name="shell.exec"), owner=1)
    forced = {"type": "function", "function": {"name": "shell__exec"}}
    assert stub.requests[0]["body"]["tool_choice"] == forced
    with pytest.raises(ValidationError, match="goes with tool_choice 'required'"):
        ask(tools=(SHELL,), tool_name="shell.exec")
    with pytest.raises(ValidationError, match="not among the tools offered"):
        ask(tools=(SHELL,), tool_choice="required", tool_name="browser.open")


async def test_auth_error_is_mapped(stub: OpenAIStub) -> None:
    stub.add(*error(401, "Incorrect API key provided", code="invalid_api_key", kind="authentication_error"))
    with pytest.raises(EngineAuthError, match="authentication failed"):
        await engine(stub).complete(ask(), owner=1)


async def test_rate_limit_is_retried_then_succeeds(stub: OpenAIStub) -> None:
    stub.add(*error(429, "Rate limit reached", kind="rate_limit_error"))
    stub.add(*error(429, "Rate limit reached", kind="rate_limit_error"))
    stub.add(200, completion("ok"))
    result = await engine(stub).complete(ask(), owner=1)
    assert result.content == "ok"
    assert len(stub.requests) == 3


async def test_rate_limit_gives_up_after_retries(stub: OpenAIStub) -> None:
    for _ in range(3):
        stub.add(*error(429, "Rate limit reached", kind="rate_limit_error"))
    with pytest.raises(EngineRateLimited, match="after 2 retries"):
        await engine(stub, max_retries=2).complete(ask(), owner=1)
    assert len(stub.requests) == 3


async def test_context_overflow_is_mapped(stub: OpenAIStub) -> None:
    stub.add(
        *error(400, "This model's maximum context length is 8192 tokens.", code="context_length_exceeded")
    )
    with pytest.raises(ContextOverflow, match="prompt too long"):
        await engine(stub).complete(ask(), owner=1)


async def test_timeout_is_mapped(stub: OpenAIStub) -> None:
    stub.add(200, completion("late"), delay_s=3.0)
    with pytest.raises(EngineTimeout, match="no answer within"):
        await engine(stub, timeout_s=0.5).complete(ask(), owner=1)


async def test_kernel_routes_a_litellm_model_string_by_config(stub: OpenAIStub, kernel: Kernel) -> None:
    kernel.engines.models["remote"] = RemoteModelConfig(
        model="openai/stub-model", api_base=stub.base_url, api_key="sk-test"
    )
    stub.add(200, completion("from the stub"))

    async def program(pid: int) -> str:
        result = await kernel.syscall(pid, ask(model="remote"))
        return result.content  # type: ignore[union-attr]

    pid = await kernel.spawn(program, agent="p", task="t", capabilities=["llm"])
    record = await kernel.wait(pid)
    assert record.result == "from the stub", record.error
    assert record.tokens_in == 11 and record.tokens_out == 3
