"""Remote cache hints: the exact request payloads, recorded by a server on 127.0.0.1."""

from __future__ import annotations

import pytest

from aios.kernel.engines.interface import KVDecision
from aios.kernel.engines.litellm_engine import LiteLLMEngine, RemoteModelConfig
from aios.kernel.kernel import Kernel
from aios.kernel.syscalls import LLMSyscall, Message, ToolSyscall

from .openai_stub import OpenAIStub, completion


@pytest.fixture
def stub():
    with OpenAIStub() as server:
        yield server


def ask(text: str = "hi", **kwargs: object) -> LLMSyscall:
    return LLMSyscall(messages=(Message(role="user", content=text),), max_tokens=8, **kwargs)  # type: ignore[arg-type]


def engine(model: str, base: str, **config: object) -> LiteLLMEngine:
    return LiteLLMEngine(RemoteModelConfig(model=model, api_base=base, api_key="sk-test", **config), name="r")


def anthropic_reply() -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 2, "cache_read_input_tokens": 10},
    }


async def test_openai_gets_a_prompt_cache_key_per_program(stub: OpenAIStub) -> None:
    stub.add(200, completion("a"))
    stub.add(200, completion("b"))
    remote = engine("openai/stub-model", stub.base_url)
    await remote.complete(ask(), owner=7)
    await remote.park(7, KVDecision(action="pin", ttl_s=3, program_id=7))
    await remote.complete(ask(), owner=7)
    assert [r["body"]["prompt_cache_key"] for r in stub.requests] == ["aios-program-7", "aios-program-7"]


async def test_vllm_continuum_gets_job_id_and_last_step(stub: OpenAIStub) -> None:
    stub.add(200, completion("a"))
    stub.add(200, completion("b"))
    remote = engine("hosted_vllm/stub-model", stub.base_url)
    await remote.park(3, KVDecision(action="pin", ttl_s=3, program_id=3))
    await remote.complete(ask(), owner=3)
    await remote.complete(ask(last_step=True), owner=3)
    bodies = [r["body"] for r in stub.requests]
    assert [(b["job_id"], b["is_last_step"]) for b in bodies] == [("3", False), ("3", True)]


async def test_llamacpp_server_gets_a_sticky_slot(stub: OpenAIStub) -> None:
    stub.add(200, completion("a"))
    stub.add(200, completion("b"))
    remote = engine("openai/local-gguf", stub.base_url, cache_hints="llamacpp", llamacpp_slots=4)
    await remote.complete(ask(), owner=6)
    await remote.complete(ask(), owner=9)
    bodies = [r["body"] for r in stub.requests]
    assert [(b["id_slot"], b["cache_prompt"]) for b in bodies] == [(2, True), (1, True)]
    assert "prompt_cache_key" not in bodies[0]


async def test_anthropic_cache_control_ttl_follows_the_predicted_pause(stub: OpenAIStub) -> None:
    for _ in range(2):
        stub.add(200, anthropic_reply())
    root = stub.base_url.removesuffix("/v1")
    remote = engine("anthropic/claude-test", root)
    await remote.park(5, KVDecision(action="pin", ttl_s=30, predicted_gap_s=20.0, program_id=5))
    short = await remote.complete(ask("short pause"), owner=5)
    await remote.park(5, KVDecision(action="pin", ttl_s=900, predicted_gap_s=900.0, program_id=5))
    await remote.complete(ask("long pause"), owner=5)
    assert short.content == "hello" and short.usage.prompt_tokens >= 12
    assert [r["path"] for r in stub.requests] == ["/v1/messages", "/v1/messages"]
    marks = [r["body"]["messages"][-1]["content"][-1]["cache_control"] for r in stub.requests]
    assert marks == [{"type": "ephemeral", "ttl": "5m"}, {"type": "ephemeral", "ttl": "1h"}]


async def test_the_kernel_turns_tool_pauses_into_hints(stub: OpenAIStub, kernel: Kernel) -> None:
    kernel.engines.models["vllm"] = RemoteModelConfig(model="hosted_vllm/stub-model", api_base=stub.base_url)
    stub.add(200, completion("plan"))
    stub.add(200, completion("done"))

    async def program(pid: int) -> str:
        await kernel.syscall(pid, ask(model="vllm"))
        await kernel.syscall(pid, ToolSyscall(name="shell.exec", arguments={"cmd": "true"}))
        result = await kernel.syscall(pid, ask(model="vllm", last_step=True))
        return result.content  # type: ignore[union-attr]

    pid = await kernel.spawn(program, agent="p", task="t", capabilities=["llm", "shell.exec"])
    record = await kernel.wait(pid)
    assert record.result == "done", record.error
    bodies = [r["body"] for r in stub.requests]
    assert [(b["job_id"], b["is_last_step"]) for b in bodies] == [(str(pid), False), (str(pid), True)]
