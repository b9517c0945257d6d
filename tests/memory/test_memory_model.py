"""With the real embedded model: a memory-on agent answers from a fact that fell out of its context."""

from __future__ import annotations

import pytest

from aios.kernel.kernel import Kernel
from aios.kernel.memory_port import MemoryScope
from aios.kernel.syscalls import LLMSyscall, Message
from aios.memory.manager import MemoryManager
from aios.sdk import Context
from aios.transport import InProcessTransport

SYSTEM = "You are a helpful assistant. Answer in a few words."
FILLER = ["the moon", "volcanoes", "honey bees", "the Nile", "glaciers", "owls", "copper", "tea", "comets"]


@pytest.mark.model
async def test_a_fact_that_fell_out_of_context_is_paged_back_in(model_kernel: Kernel) -> None:
    memory = model_kernel.memory
    assert isinstance(memory, MemoryManager)
    answers: dict[str, str] = {}

    async def chat(pid: int) -> None:
        ctx = Context(InProcessTransport(model_kernel, pid))

        async def say(text: str) -> str:
            messages = [Message(role="system", content=SYSTEM), Message(role="user", content=text)]
            result = await ctx.llm(messages, memory=True, max_tokens=24, repeat_penalty=1.2)
            assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
            return result.content

        await say("My dog's name is Biscuit.")
        for topic in FILLER:
            await say(f"Tell me one fact about {topic}.")
        answers["memory"] = await say("What is my dog's name?")

    pid = await model_kernel.spawn(chat, agent="chat", task="chat", capabilities=["llm", "memory.own"])
    record = await model_kernel.wait(pid)
    assert record.state.value == "done", record.error

    pages = memory.store.list_items(user=record.owner, agent="chat", kinds=["page"], limit=None)
    assert len(pages) == len(FILLER) + 2
    first = pages[0]
    assert "Biscuit" in first.text and first.tier == "mid"  # paged out of the short-term window
    short = [p for p in pages if p.tier == "short"]
    assert len(short) == memory.settings.short_term_pages and first not in short
    # mechanics: the prompt the kernel assembles for the question carries the paged-out fact
    scope = MemoryScope(
        pid=pid, user=record.owner, agent="chat", session=f"pid-{pid}", capabilities=("memory.own",)
    )
    question = LLMSyscall(messages=(Message(role="user", content="What is my dog's name?"),), memory=True)
    assembled = await memory.assemble(scope, question, context_tokens=8192)
    assert "Biscuit" in assembled.messages[-1].content
    assert all(m.content != "My dog's name is Biscuit." for m in assembled.messages[:-1])
    # and the model, given it, answered from it (the one assertion on the model's output)
    assert "biscuit" in answers["memory"].lower(), answers["memory"]
