"""`aios bench prefix`: agents of one kind with one long system prompt, with and without shared prefixes.

Eight agents start together, each with the same 1,500-token system prompt (tool descriptions) and a task
of its own, and make three calls separated by a tool pause. The same work runs on two engines that differ
only in `share_prefixes` ("user" and "none"). Time to first token is the latency of a one-token call
through the kernel: queue wait, prefill and the first token.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from aios.kernel.contracts import KernelAPI
from aios.kernel.engines.configs import LocalModelConfig
from aios.sdk import Agent, Context, Manifest
from aios.transport import InProcessTransport

if TYPE_CHECKING:
    from aios.kernel.kernel import Kernel

MODES = {"shared": "user", "private": "none"}
"""Engine name suffix -> share_prefixes."""


class PrefixBenchParams(BaseModel):
    agents: int = 8
    calls_per_agent: int = 3
    tools: int = 25
    """Tool descriptions in the system prompt (about 50 tokens each)."""
    pause_s: float = 0.3
    """The tool call between two LLM calls."""
    rounds: int = 3
    """Each mode runs this many times, alternating, each round with a system prompt of its own."""


QUICK = PrefixBenchParams(agents=4, calls_per_agent=2, tools=10, rounds=1)


class CallSample(BaseModel):
    ttft_s: float
    prompt_tokens: int
    prefilled_tokens: int


class ModeRow(BaseModel):
    mode: str
    calls: int
    prompt_tokens: int
    prefilled_tokens: int
    ttft_mean_s: float
    ttft_first_call_p50_s: float
    wall_s: float


class PrefixBenchReport(BaseModel):
    rows: list[ModeRow]
    first_prompt_tokens: int
    prefill_shared_vs_private: float
    ttft_shared_vs_private: float

    def markdown(self) -> str:
        lines = [
            f"first call's prompt: {self.first_prompt_tokens} tokens",
            "",
            "| prefixes | calls | prompt tokens | prefilled | mean TTFT (s) | first call's TTFT p50 (s) "
            "| wall (s) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.mode} | {r.calls} | {r.prompt_tokens} | {r.prefilled_tokens} | {r.ttft_mean_s:.3f} "
                f"| {r.ttft_first_call_p50_s:.3f} | {r.wall_s:.2f} |"
            )
        return "\n".join(lines)

    def last_line(self) -> str:
        return (
            f"prefill_shared_vs_private={self.prefill_shared_vs_private:.2f} "
            f"ttft_shared_vs_private={self.ttft_shared_vs_private:.2f}"
        )


def model_configs(base: LocalModelConfig) -> dict[str, LocalModelConfig]:
    """The two engines: room for every agent's sequence, so only sharing differs between them."""
    return {
        f"prefix-{mode}": base.model_copy(
            update={"n_ctx": 16384, "n_seq_max": 16, "max_concurrency": 8, "share_prefixes": share}
        )
        for mode, share in MODES.items()
    }


def system_prompt(round_id: str, tools: int) -> str:
    """A deployment's agent prompt: a header naming the round, then numbered tool descriptions."""
    lines = [f"You are operations agent {round_id} of the platform team. Use one tool at a time."]
    for i in range(tools):
        lines.append(
            f"Tool {i} `ops_{i}(target: str, dry_run: bool = true)`: checks service group {i} on the "
            f"target host, reports its {i + 2} most recent incidents with their severity, owner and "
            "status, and never changes anything when dry_run is true."
        )
    return "\n".join(lines)


class PrefixAgent(Agent):
    """One-token calls over a growing conversation, a tool pause between them."""

    manifest = Manifest(name="bench-prefix", description="shared-prompt agent", capabilities=("llm",))

    def __init__(self, system: str, task: str, model: str, params: PrefixBenchParams) -> None:
        self.system, self.task, self.model, self.params = system, task, model, params

    async def run(self, task: str, ctx: Context) -> str:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.task},
        ]
        samples = []
        for call in range(self.params.calls_per_agent):
            started = time.perf_counter()
            result = await ctx.llm(messages, max_tokens=1, model=self.model)
            ttft = time.perf_counter() - started
            usage = result.usage
            samples.append(
                CallSample(
                    ttft_s=ttft, prompt_tokens=usage.prompt_tokens, prefilled_tokens=usage.prefilled_tokens
                ).model_dump()
            )
            # a fixed reply: both modes then do exactly the same work, whatever the model says
            messages.append({"role": "assistant", "content": f"Calling ops_{call}."})
            messages.append({"role": "user", "content": f"Tool result {call}: group {call} is healthy."})
            await asyncio.sleep(self.params.pause_s)
        return json.dumps(samples)


async def _round(
    kernel: KernelAPI, mode: str, round_id: str, params: PrefixBenchParams
) -> tuple[list[list[CallSample]], float]:
    system = system_prompt(round_id, params.tools)

    async def spawn(i: int) -> int:
        agent = PrefixAgent(system, f"Task {i}: check host h{i}.", f"prefix-{mode}", params)

        async def program(pid: int) -> str:
            return await agent.run("bench", Context(InProcessTransport(kernel, pid)))

        return await kernel.spawn(program, agent="bench-prefix", task=f"{round_id}/{i}", capabilities=["llm"])

    started = time.perf_counter()
    pids = [await spawn(i) for i in range(params.agents)]
    records = [await kernel.wait(pid) for pid in pids]
    wall = time.perf_counter() - started
    failed = [r for r in records if r.state != "done"]
    if failed:
        raise RuntimeError(f"bench process {failed[0].pid} ended {failed[0].state}: {failed[0].error}")
    per_agent = [[CallSample(**s) for s in json.loads(r.result or "[]")] for r in records]
    return per_agent, wall


async def run_prefix_bench(
    kernel: Kernel, params: PrefixBenchParams, progress: Callable[[str], None] = lambda _m: None
) -> PrefixBenchReport:
    """Alternate the two modes `rounds` times (engines load on first use); sum and compare."""
    runs: dict[str, list[tuple[list[list[CallSample]], float]]] = {mode: [] for mode in MODES}
    for mode in MODES:
        progress(f"loading the {mode}-prefix engine")
        await kernel.engines.acquire(f"prefix-{mode}")
        await _round(kernel, mode, f"warm-{mode}", params.model_copy(update={"agents": 1, "tools": 1}))
    for r in range(params.rounds):
        for mode in MODES:
            progress(f"round {r + 1}/{params.rounds}: {mode} prefixes")
            runs[mode].append(await _round(kernel, mode, f"r{r}-{mode}", params))
    rows = [_row(mode, results) for mode, results in runs.items()]
    shared, private = rows
    first = runs["private"][0][0][0][0]
    return PrefixBenchReport(
        rows=rows,
        first_prompt_tokens=first.prompt_tokens,
        prefill_shared_vs_private=shared.prefilled_tokens / private.prefilled_tokens,
        ttft_shared_vs_private=shared.ttft_mean_s / private.ttft_mean_s,
    )


def _row(mode: str, results: list[tuple[list[list[CallSample]], float]]) -> ModeRow:
    calls = [s for per_agent, _ in results for samples in per_agent for s in samples]
    firsts = [samples[0].ttft_s for per_agent, _ in results for samples in per_agent]
    return ModeRow(
        mode=mode,
        calls=len(calls),
        prompt_tokens=sum(s.prompt_tokens for s in calls),
        prefilled_tokens=sum(s.prefilled_tokens for s in calls),
        ttft_mean_s=statistics.mean(s.ttft_s for s in calls),
        ttft_first_call_p50_s=statistics.median(firsts),
        wall_s=statistics.median(wall for _, wall in results),
    )
