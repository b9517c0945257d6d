"""`aios bench openai`: `bench concurrency`'s N agents x K calls as conversations with a tool pause between
calls, three ways: SDK agents in the kernel, the daemon's OpenAI-compatible endpoint through the official
`openai` client, and a plain llama-cpp-python OpenAI server on the same model.

- `endpoint_vs_sdk`: tokens/s through the endpoint over the SDK path (what the HTTP edge costs);
- `endpoint_vs_plain_server`: the plain server's wall time over the endpoint's (batching plus KV retention);
- `prefill_saved`: the share of the endpoint's prompt tokens served from the KV cache a conversation kept.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from aios.daemon import Daemon
from aios.evals.bench_agent import llama_cpp_server
from aios.evals.bench_agents import TOPICS
from aios.evals.bench_kv import WaitDriver
from aios.kernel.syscalls import Message
from aios.sdk import Context
from aios.transport import InProcessTransport

SERVER_N_CTX = 8192
"""The plain server's context: the embedded engine's default."""


class OpenAIBenchParams(BaseModel):
    agents: int = 8
    calls_per_agent: int = 4
    tokens_per_call: int = 64
    pause_s: float = 0.5
    """The tool call between two calls of an agent (the client's own, on the OpenAI paths)."""
    with_server: bool = True


class OpenAIRow(BaseModel):
    mode: str
    agents: int
    calls: int
    tokens: int
    prompt_tokens: int
    cached_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class OpenAIBenchReport(BaseModel):
    rows: list[OpenAIRow]
    endpoint_vs_sdk: float
    endpoint_vs_plain_server: float | None
    prefill_saved: float
    server_missing: str | None = None

    def markdown(self) -> str:
        lines = [
            "| mode | agents | calls | tokens | seconds | tokens/s | prompt tokens | from kept KV |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.mode} | {r.agents} | {r.calls} | {r.tokens} | {r.seconds:.2f} | {r.tokens_per_s:.1f} "
                f"| {r.prompt_tokens} | {r.cached_tokens} |"
            )
        if self.server_missing:
            lines.append(f"\nplain server not measured: {self.server_missing}")
        return "\n".join(lines) + "\n"

    def last_line(self) -> str:
        plain = "n/a" if self.endpoint_vs_plain_server is None else f"{self.endpoint_vs_plain_server:.2f}"
        return (
            f"endpoint_vs_sdk={self.endpoint_vs_sdk:.2f} endpoint_vs_plain_server={plain} "
            f"prefill_saved={self.prefill_saved:.2f}"
        )


def _opening(run: str, agent: int) -> str:
    return f"[{run}/{agent}] Tell a long story about {TOPICS[agent % len(TOPICS)]}."


TOOL_TURN = "Tool output: done. Go on with the story."


class _Tally:
    """What one mode's calls added up to."""

    def __init__(self) -> None:
        self.calls = self.tokens = self.prompt_tokens = self.cached_tokens = 0

    def add(self, completion: int, prompt: int, cached: int) -> None:
        self.calls += 1
        self.tokens += completion
        self.prompt_tokens += prompt
        self.cached_tokens += cached

    def row(self, mode: str, agents: int, seconds: float) -> OpenAIRow:
        return OpenAIRow(
            mode=mode,
            agents=agents,
            calls=self.calls,
            tokens=self.tokens,
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
            seconds=seconds,
        )


async def _timed(agents: int, one: Callable[[int], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(agents)))
    return time.perf_counter() - started


async def _sdk_run(daemon: Daemon, params: OpenAIBenchParams, run: str) -> OpenAIRow:
    """SDK agents in the daemon's kernel; the pause is a real tool syscall (`bench.wait`)."""
    kernel, tally = daemon.kernel, _Tally()

    async def program(pid: int, agent: int) -> str:
        ctx = Context(InProcessTransport(kernel, pid))
        history = [Message(role="user", content=_opening(run, agent))]
        for call in range(params.calls_per_agent):
            if call:
                await ctx.tool("bench.wait", seconds=params.pause_s)
                history.append(Message(role="user", content=TOOL_TURN))
            result = await ctx.llm(history, max_tokens=params.tokens_per_call, ignore_eos=True)
            usage = result.usage
            tally.add(usage.completion_tokens, usage.prompt_tokens, usage.reused_tokens)
            history.append(Message(role="assistant", content=result.content))
        return "done"

    async def one(agent: int) -> None:
        pid = await kernel.spawn(
            lambda pid: program(pid, agent),
            agent="bench",
            task=f"bench openai {run}/{agent}",
            capabilities=["llm", "bench.wait"],
        )
        record = await kernel.wait(pid)
        if record.state != "done":
            raise RuntimeError(f"bench process {pid} ended {record.state}: {record.error}")

    seconds = await _timed(params.agents, one)
    return tally.row("sdk", params.agents, seconds)


async def _openai_run(
    base_url: str, api_key: str, params: OpenAIBenchParams, run: str, *, mode: str, extra: dict[str, Any]
) -> OpenAIRow:
    """The agents as OpenAI clients: one conversation each, the pause spent in the client's own tool."""
    from openai import AsyncOpenAI

    tally = _Tally()
    async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=600) as client:

        async def one(agent: int) -> None:
            history: list[Any] = [{"role": "user", "content": _opening(run, agent)}]
            for call in range(params.calls_per_agent):
                if call:
                    await asyncio.sleep(params.pause_s)
                    history.append({"role": "user", "content": TOOL_TURN})
                answer = await client.chat.completions.create(
                    model="local",
                    messages=history,
                    max_tokens=params.tokens_per_call,
                    temperature=0.0,
                    extra_headers={"X-AIOS-Program": f"bench-{run}-{agent}"},
                    extra_body=extra,
                )
                usage = answer.usage
                assert usage is not None, f"{mode} answered without usage"
                details = usage.prompt_tokens_details
                cached = (details.cached_tokens or 0) if details is not None else 0
                tally.add(usage.completion_tokens, usage.prompt_tokens, cached)
                history.append({"role": "assistant", "content": answer.choices[0].message.content or ""})

        seconds = await _timed(params.agents, one)
    return tally.row(mode, params.agents, seconds)


def _server_missing(params: OpenAIBenchParams) -> str | None:
    if not params.with_server:
        return "skipped (--no-server)"
    needed = ("fastapi", "uvicorn", "sse_starlette", "starlette_context")
    if any(importlib.util.find_spec(name) is None for name in needed):
        return "llama_cpp.server needs its extras: pip install 'llama-cpp-python[server]'"
    return None


async def run_openai_bench(
    daemon: Daemon,
    token: str,
    params: OpenAIBenchParams,
    progress: Callable[[str], None] = lambda _m: None,
) -> OpenAIBenchReport:
    """Every mode on one daemon (TCP on 127.0.0.1) and `token`, a user token of it; the plain server runs
    after the daemon's runs, on the same model and cores."""
    assert daemon.port is not None, "the benchmark reaches the endpoint over TCP"
    daemon.kernel.drivers.setdefault("bench", WaitDriver())
    endpoint = f"http://127.0.0.1:{daemon.port}/v1"
    warm = OpenAIBenchParams(agents=1, calls_per_agent=1, tokens_per_call=8)
    progress("warm-up")
    await daemon.kernel.engines.acquire(None)
    await _sdk_run(daemon, warm, "warm")
    await _openai_run(endpoint, token, warm, "warm", mode="warm", extra={"ignore_eos": True})
    progress(f"{params.agents} SDK agents in the kernel")
    sdk = await _sdk_run(daemon, params, "sdk")
    progress(f"{params.agents} OpenAI clients on the endpoint")
    ours = await _openai_run(endpoint, token, params, "ep", mode="endpoint", extra={"ignore_eos": True})
    rows = [sdk, ours]
    missing = _server_missing(params)
    plain = None
    if missing is None:
        progress(f"{params.agents} OpenAI clients on a plain llama-cpp-python server")
        threads = len(os.sched_getaffinity(0))
        async with llama_cpp_server(threads, SERVER_N_CTX) as url:
            # min_tokens holds off end-of-generation: the same token work as ignore_eos on the kernel
            extra = {"min_tokens": params.tokens_per_call}
            plain = await _openai_run(f"{url}/v1", "none", params, "plain", mode="plain-server", extra=extra)
        rows.append(plain)
    return OpenAIBenchReport(
        rows=rows,
        endpoint_vs_sdk=ours.tokens_per_s / sdk.tokens_per_s,
        endpoint_vs_plain_server=None if plain is None else plain.seconds / ours.seconds,
        prefill_saved=ours.cached_tokens / ours.prompt_tokens if ours.prompt_tokens else 0.0,
        server_missing=missing,
    )
