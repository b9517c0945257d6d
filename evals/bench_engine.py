"""`aios bench engine`: what the local engine does on this machine, in its default, q4_0, deterministic modes.

Per mode, medians over `runs`: prefill tokens/s, decode tokens/s of one sequence, aggregate tokens/s of
eight sequences in one batch (end to end, and decode only), grammar-constrained tokens/s, and whether eight
greedy outputs stay the same when generated alone and all at once (batch invariance). Beside the engine's
figures, llama.cpp's own decode rates on the same model file (`LlamaProbe`): what the engine could reach.
"""

from __future__ import annotations

import asyncio
import ctypes
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
    q4_0: bool = True
    """Also measure `weights = "q4_0"` (the model requantized once, on repacked buffers)."""
    probe_steps: int = 64
    """Decode steps of the llama.cpp probe, per sequence count."""


class LlamaProbe(BaseModel):
    """llama.cpp's own decode rates on a mode's model file: its C API, no engine around it."""

    decode_tok_s: float
    """One sequence, one token per `llama_decode`."""
    aggregate_tok_s: float
    """`batch` sequences, one token each per `llama_decode`, greedy from the logits."""


class ModeResult(BaseModel):
    mode: str
    prefill_tok_s: float
    decode_tok_s: float
    aggregate_tok_s: float
    """`batch` calls at once, end to end (their prompts' prefill included)."""
    aggregate_decode_tok_s: float
    """The same calls' decode alone: their time less that of the same calls generating one token."""
    grammar_tok_s: float
    invariant_outputs: int
    """Of `batch` greedy outputs, how many came out the same alone and batched together."""
    batch: int
    kv_mb: float
    """KV cache memory the mode allocates."""
    llama_cpp: LlamaProbe | None = None
    """llama.cpp's own rates on the same file and buffers (None in the deterministic mode)."""


class EngineBenchReport(BaseModel):
    params: EngineBenchParams
    modes: list[ModeResult]

    def mode(self, name: str) -> ModeResult:
        return next(m for m in self.modes if m.mode == name)

    def markdown(self) -> str:
        lines = [
            "| mode | prefill tok/s | decode tok/s (1 seq) | aggregate tok/s (8 seqs) "
            "| aggregate decode only | llama.cpp decode (1 / 8 seqs) | grammar tok/s "
            "| same output alone vs batched | KV MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for m in self.modes:
            probe = m.llama_cpp
            own = f"{probe.decode_tok_s:.1f} / {probe.aggregate_tok_s:.1f}" if probe else "-"
            lines.append(
                f"| {m.mode} | {m.prefill_tok_s:.0f} | {m.decode_tok_s:.1f} | {m.aggregate_tok_s:.1f} | "
                f"{m.aggregate_decode_tok_s:.1f} | {own} | {m.grammar_tok_s:.1f} | "
                f"{m.invariant_outputs}/{m.batch} | {m.kv_mb:.0f} |"
            )
        return "\n".join(lines) + "\n"

    def last_line(self) -> str:
        d = self.mode("default")
        line = (
            f"decode_tok_s={d.decode_tok_s:.1f} aggregate8_tok_s={d.aggregate_tok_s:.1f} "
            f"grammar_tok_s={d.grammar_tok_s:.1f} prefill_tok_s={d.prefill_tok_s:.0f}"
            f" aggregate8_decode_tok_s={d.aggregate_decode_tok_s:.1f}"
        )
        if d.llama_cpp is not None:
            line += (
                f" llama_cpp_decode_tok_s={d.llama_cpp.decode_tok_s:.1f}"
                f" llama_cpp_aggregate8_tok_s={d.llama_cpp.aggregate_tok_s:.1f}"
            )
        if any(m.mode == "q4_0" for m in self.modes):
            q = self.mode("q4_0")
            line += f" q4_0_decode_tok_s={q.decode_tok_s:.1f} q4_0_aggregate8_tok_s={q.aggregate_tok_s:.1f}"
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


async def _batch(
    engine: Engine, params: EngineBenchParams, prompt: str, tokens: int, owner: _Owners
) -> float:
    """Seconds for `batch` calls at once, one prompt each (`prompt` formatted with k and a topic)."""
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _generate(engine, _request(prompt.format(k=k, topic=TOPICS[k % 8]), tokens), owner())
            for k in range(params.batch)
        )
    )
    return time.perf_counter() - started


async def _measure(engine: Engine, params: EngineBenchParams, mode: str, kv_mb: float) -> ModeResult:
    owner = _Owners()
    await _generate(engine, _request("warm up", 8), owner())
    prefill, single, aggregate, aggregate_decode, grammar = [], [], [], [], []
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
        # prompts of one length, none a prefix another call could reuse
        one = await _batch(engine, params, f"Tale {run}/{{k}} about {{topic}}.", 1, owner)
        many = await _batch(engine, params, f"Story {run}/{{k}} about {{topic}}.", params.batch_tokens, owner)
        aggregate.append(params.batch * params.batch_tokens / many)
        aggregate_decode.append(params.batch * (params.batch_tokens - 1) / max(many - one, 1e-9))
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
        aggregate_decode_tok_s=median(aggregate_decode),
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
    from aios.kernel.engines.requantize import weights_file

    shared = {"n_ctx": params.n_ctx, "n_seq_max": params.n_seq_max, "weights": "as_is"}
    configs = {"default": base.model_copy(update=shared)}
    if params.q4_0:
        configs["q4_0"] = base.model_copy(update={**shared, "weights": "q4_0"})
    if deterministic:
        configs["deterministic"] = base.model_copy(
            update={**shared, "n_ctx": params.deterministic_n_ctx, "deterministic": True}
        )
    modes = []
    for mode, config in configs.items():
        progress(f"{mode} mode: loading the model")
        engine = LocalEngine(config)
        if engine.model_path != weights_file(config):
            raise RuntimeError(f"{mode} mode: the engine loaded {engine.model_path}, not its weights file")
        try:
            progress(f"{mode} mode: measuring ({params.runs} runs)")
            kv_mb = config.n_ctx * engine.calibration.kv_bytes_per_token / 1e6
            result = await _measure(engine, params, mode, kv_mb)
        finally:
            await engine.close()
        if not config.deterministic:
            progress(f"{mode} mode: llama.cpp's own rates")
            result.llama_cpp = await _probe(config, engine.model_path, params)
        modes.append(result)
    return EngineBenchReport(params=params, modes=modes)


async def _probe(config: LocalEngineConfig, model_path: Path, params: EngineBenchParams) -> LlamaProbe:
    """The probe on a thread of its own that then ends (llama.cpp keeps a worker team per thread)."""
    rates: list[float] = []

    def main() -> None:
        rates.extend(
            _llama_cpp_rate(config, model_path, n_seq, params.probe_steps) for n_seq in (1, params.batch)
        )

    thread = threading.Thread(target=main, name="aios-llama-probe")
    thread.start()
    await asyncio.to_thread(thread.join)
    if len(rates) != 2:
        raise RuntimeError("the llama.cpp probe failed (see the log)")
    return LlamaProbe(decode_tok_s=rates[0], aggregate_tok_s=rates[1])


def _llama_cpp_rate(config: LocalEngineConfig, model_path: Path, n_seq: int, steps: int) -> float:
    """Tokens/s of `n_seq` sequences decoded together through llama.cpp's C API: each step one
    `llama_decode` of one token per sequence, the next tokens picked greedily from the logits with numpy."""
    import llama_cpp
    import numpy as np

    from aios.kernel.engines.llama_runtime import default_threads, init_backend, repack_overrides

    init_backend()
    model_params = llama_cpp.llama_model_default_params()
    model_params.n_gpu_layers = 0
    model_params.use_extra_bufts = config.use_extra_buffers and config.weights == "as_is"
    overrides = repack_overrides() if config.weights != "as_is" else None
    if overrides is not None:
        model_params.tensor_buft_overrides = ctypes.cast(overrides, ctypes.c_void_p)
    model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), model_params)
    ctx_params = llama_cpp.llama_context_default_params()
    ctx_params.n_ctx, ctx_params.n_seq_max = config.n_ctx, config.n_seq_max
    ctx_params.n_batch = ctx_params.n_ubatch = config.n_batch
    ctx_params.n_threads = ctx_params.n_threads_batch = config.n_threads or default_threads()
    ctx_params.kv_unified, ctx_params.no_perf = True, True  # one shared cache, as the engine's default
    ctx = llama_cpp.llama_init_from_model(model, ctx_params)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    batch = llama_cpp.llama_batch_init(n_seq, 0, 1)
    try:
        tokens, started = [1000 + 7 * seq for seq in range(n_seq)], 0.0  # each sequence its own text
        for step in range(steps + 1):
            if step == 1:
                started = time.perf_counter()  # the first step only writes each sequence's first cell
            for seq, token in enumerate(tokens):
                batch.token[seq], batch.pos[seq], batch.n_seq_id[seq] = token, step, 1
                batch.seq_id[seq][0], batch.logits[seq] = seq, True
            batch.n_tokens = n_seq
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed in the probe")
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(ctx), shape=(n_seq, n_vocab))
            tokens = logits.argmax(axis=1).tolist()
        return n_seq * steps / (time.perf_counter() - started)
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
