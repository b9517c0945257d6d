"""`chat`: answers with one LLM call, no tools; remembers the conversation across runs."""

from __future__ import annotations

from aios.sdk import Agent, Context, Manifest, Message


class ChatAgent(Agent):
    manifest = Manifest(
        name="chat",
        version="0.1.0",
        description="Answers a message with one LLM call; no tools; remembers earlier conversations.",
        capabilities=("llm", "memory.own"),
    )

    system_prompt = "You are a helpful assistant. Answer briefly."
    max_tokens = 256

    async def run(self, task: str, ctx: Context) -> str:
        # with memory.own narrowed away (aios run --cap llm), it answers from the message alone
        result = await ctx.llm(
            [Message(role="system", content=self.system_prompt), Message(role="user", content=task)],
            max_tokens=self.max_tokens,
            repeat_penalty=1.2,
            memory=await ctx.has_capability("memory.own"),
        )
        return result.content.strip()
