"""Agents the benchmarks run isolated: this module imports only the SDK, so an agent process starts fast."""

from __future__ import annotations

import json
import time

from aios.sdk import Agent, Context, Manifest, Message

TOPICS = ("schedulers", "caches", "compilers", "rivers", "bridges", "gardens", "robots", "libraries")


class NoopProbe(Agent):
    """`calls` no-op syscalls one after another; reports their round trips and when it ran."""

    manifest = Manifest(name="bench-noop", description="no-op syscalls for benchmarks", capabilities=())

    async def run(self, task: str, ctx: Context) -> str:
        calls = json.loads(task)["calls"]
        rtts_ns = []
        started = time.time()
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            await ctx.noop()
            rtts_ns.append(time.perf_counter_ns() - t0)
        rtts_ns.sort()
        return json.dumps(
            {
                "p50_ms": rtts_ns[len(rtts_ns) // 2] / 1e6,
                "p90_ms": rtts_ns[int(len(rtts_ns) * 0.9)] / 1e6,
                "start": started,
                "end": time.time(),
            }
        )


class LLMWork(Agent):
    """The same fixed LLM work as `bench concurrency`'s agents, its parameters in the task."""

    manifest = Manifest(name="bench-llm", description="fixed LLM work for benchmarks", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        spec = json.loads(task)
        topic = TOPICS[spec["index"] % len(TOPICS)]
        tokens = 0
        for call in range(spec["calls"]):
            prompt = f"[{spec['run']}/{spec['index']}/{call}] Tell a long story about {topic}."
            result = await ctx.llm(
                [Message(role="user", content=prompt)], max_tokens=spec["tokens"], ignore_eos=True
            )
            tokens += result.usage.completion_tokens
        return str(tokens)
