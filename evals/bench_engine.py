"""`aios bench engine`: what the local engine does on this machine, in the default and deterministic modes.

Per mode, medians over `runs`: prefill tokens/s, decode tokens/s of one sequence, aggregate decode
tokens/s of eight sequences in one batch, grammar-constrained tokens/s, and whether eight greedy outputs
stay the same when generated alone and all at once (batch invariance).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel

from aios.kernel.engines.configs import LocalEngineConfig
from aios.kernel.engines.interface import Engine
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling

PREFILL_TEXT = "The scheduler keeps every agent's cache between its tool calls. " * 40
LIST_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "string"}, "minItems": 12, "maxItems": 12}},
    "required": ["items"],
}
TOPICS = ("rivers", "bridges", "compilers", "gardens", "robots", "libraries", "storms", "markets")


class EngineBenchParams(BaseModel):
    runs: int = 5
    decode_tokens: int = 128
    batch: int = 8
    batch_tokens: int = 64
    invariance_tokens: int = 96
    n_ctx: int = 8192
    n_seq_max: int = 16
    deterministic_n_ctx: int = 32768
    """Cells of the deterministic mode: n_ctx // n_seq_max each (2048 here)."""


class ModeResult(BaseModel):
    mode: str
    prefill_tok_s: float
    decode_tok_s: float
    aggregate_tok_s: float
    grammar_tok_s: float
    invariant_outputs: int
    """Of `batch` greedy outputs, how many came out the same alone and batched together."""
    batch: int
    kv_mb: float
    """KV cache memory the mode allocates."""


class EngineBenchReport(BaseModel):
    params: EngineBenchParams
    modes: list[ModeResult]

    def mode(self, name: str) -> ModeResult:
        return next(m for m in self.modes if m.mode == name)

    def markdown(self) -> str:
        lines = [
            "| mode | prefill tok/s | decode tok/s (1 seq) | aggregate tok/s (8 seqs) | grammar tok/s "
            "| same output alone vs batched | KV MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in self.modes:
            lines.append(
                f"| {m.mode} | {m.prefill_tok_s:.0f} | {m.decode_tok_s:.1f} | {m.aggregate_tok_s:.1f} | "
                f"{m.grammar_tok_s:.1f} | {m.invariant_outputs}/{m.batch} | {m.kv_mb:.0f} |"
            )
        return "\n".join(lines) + "\n"

    def last_line(self) -> str:
        d = self.mode("default")
        line = (
            f"decode_tok_s={d.decode_tok_s:.1f} aggregate8_tok_s={d.aggregate_tok_s:.1f} "
            f"grammar_tok_s={d.grammar_tok_s:.1f} prefill_tok_s={d.prefill_tok_s:.0f}"
        )
        if any(m.mode == "deterministic" for m in self.modes):
            x = self.mode("deterministic")
            line += (
                f" deterministic_aggregate_vs_default={x.aggregate_tok_s / d.aggregate_tok_s:.2f}"
                f" invariant_default={d.invariant_outputs}/{d.batch}"
                f" invariant_deterministic={x.invariant_outputs}/{x.batch}"
            )
        return line


def _request(text: str, tokens: int, schema: dict[str, object] | None = None) -> LLMSyscall:
    return LLMSyscall(
        messages=(Message(role="user", content=text),),
        max_tokens=tokens,
        response_schema=schema,
        sampling=Sampling(ignore_eos=schema is None),
    )


class _Owners:
    def __init__(self) -> None:
        self.next = 1_000_000

    def __call__(self) -> int:
        self.next += 1
        return self.next


async def _generate(engine: Engine, request: LLMSyscall, owner: int) -> LLMResult:
    prepared = await engine.prepare(request, owner=owner, program_arrival=0.0)
    result = await engine.run(prepared)
    assert isinstance(result, LLMResult)
    await engine.release(owner)
    return result


async def _timed(engine: Engine, request: LLMSyscall, owner: int) -> tuple[LLMResult, float]:
    started = time.perf_counter()
    result = await _generate(engine, request, owner)
    return result, time.perf_counter() - started


async def _measure(engine: Engine, params: EngineBenchParams, mode: str, kv_mb: float) -> ModeResult:
    owner = _Owners()
    await _generate(engine, _request("warm up", 8), owner())
    prefill, single, aggregate, grammar = [], [], [], []
    for run in range(params.runs):
        result, seconds = await _timed(engine, _request(f"{run}: {PREFILL_TEXT}", 1), owner())
        prefill.append(result.usage.prefilled_tokens / seconds)
        text = f"Story {run} about the sea."
        _, one = await _timed(engine, _request(text, 1), owner())
        result, many = await _timed(engine, _request(text, params.decode_tokens + 1), owner())
        single.append((result.usage.completion_tokens - 1) / (many - one))
        result, seconds = await _timed(
            engine, _request(f"List {run}: twelve city names.", 128, LIST_SCHEMA), owner()
        )
        grammar.append(result.usage.completion_tokens / seconds)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                _generate(
                    engine, _request(f"Story {run}/{k} about {TOPICS[k % 8]}.", params.batch_tokens), owner()
                )
                for k in range(params.batch)
            )
        )
        aggregate.append(sum(r.usage.completion_tokens for r in results) / (time.perf_counter() - started))
    requests = [
        _request(f"Tell me about {TOPICS[k % 8]}.", params.invariance_tokens) for k in range(params.batch)
    ]
    alone = [(await _generate(engine, r, owner())).content for r in requests]
    together = [r.content for r in await asyncio.gather(*(_generate(engine, r, owner()) for r in requests))]
    median = statistics.median
    return ModeResult(
        mode=mode,
        prefill_tok_s=median(prefill),
        decode_tok_s=median(single),
        aggregate_tok_s=median(aggregate),
        grammar_tok_s=median(grammar),
        invariant_outputs=sum(a == b for a, b in zip(alone, together, strict=True)),
        batch=params.batch,
        kv_mb=kv_mb,
    )


async def run_engine_bench(
    base: LocalEngineConfig,
    params: EngineBenchParams,
    *,
    deterministic: bool,
    progress: Callable[[str], None] = lambda _m: None,
) -> EngineBenchReport:
    """Each mode on a fresh engine of its own (one at a time: they would share the cores)."""
    from aios.kernel.engines.local import LocalEngine

    configs = {"default": base.model_copy(update={"n_ctx": params.n_ctx, "n_seq_max": params.n_seq_max})}
    if deterministic:
        configs["deterministic"] = base.model_copy(
            update={"n_ctx": params.deterministic_n_ctx, "n_seq_max": params.n_seq_max, "deterministic": True}
        )
    modes = []
    for mode, config in configs.items():
        progress(f"{mode} mode: loading the model")
        engine = LocalEngine(config)
        try:
            progress(f"{mode} mode: measuring ({params.runs} runs)")
            kv_mb = config.n_ctx * engine.calibration.kv_bytes_per_token / 1e6
            modes.append(await _measure(engine, params, mode, kv_mb))
        finally:
            await engine.close()
    return EngineBenchReport(params=params, modes=modes)
