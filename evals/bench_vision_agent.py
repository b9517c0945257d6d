"""The agent `aios bench vision` runs in the kernel and isolated: it imports only the SDK (it starts fast)."""

from __future__ import annotations

import json
import time

from aios.sdk import Agent, Context, Manifest, user


def step_tag(run: str, step: int) -> str:
    """What marks a step's request, so the benchmark finds it among those the provider received."""
    return f"[bench-vision {run}/{step}]"


class LookingAgent(Agent):
    """`steps` times: a screenshot, then a vision model asked about it; reports when each step began and
    how long it took to the model's answer."""

    manifest = Manifest(
        name="bench-vision",
        description="screenshot then a vision LLM call, for benchmarks",
        capabilities=("llm", "gui.screenshot"),
    )

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        steps = []
        for step in range(spec["steps"]):
            started = time.perf_counter()
            shot = await ctx.tool("gui.screenshot")
            prompt = f"{step_tag(spec['run'], step)} What is on the screen? Answer in a few words."
            await ctx.llm([user(prompt, shot)], model=spec["model"], max_tokens=8)
            steps.append({"started": started, "step_ms": (time.perf_counter() - started) * 1000})
        return json.dumps(steps)
