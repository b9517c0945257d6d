"""The in-process engine: continuous batching of every active sequence on llama.cpp, with prefix reuse."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llama_cpp.llama_grammar import json_schema_to_gbnf
from pydantic import BaseModel, ConfigDict, Field

from aios.kernel.engines.chat_format import (
    ChatTemplate,
    grammar_friendly,
    parse_tool_reply,
    template_messages,
    tool_call_schema,
)
from aios.kernel.engines.interface import Engine, EngineInfo, KVDecision
from aios.kernel.engines.kv_cache import KVCache, KVEntry, Sequence
from aios.kernel.engines.llama_runtime import BatchEntry, LlamaRuntime, default_threads
from aios.kernel.engines.model_file import resolve_model_path
from aios.kernel.errors import AiosError, ContextOverflow, EngineError, GenerationPreempted, InvalidSyscall
from aios.kernel.kv_policy import Calibration
from aios.kernel.syscalls import LLMResult, LLMSyscall, Usage

logger = logging.getLogger(__name__)


class LocalEngineConfig(BaseModel):
    """Settings of the embedded llama.cpp engine."""

    model_config = ConfigDict(extra="forbid")

    model_path: str | None = None
    """A GGUF file; None means the embedded SmolLM2-135M-Instruct."""
    n_ctx: int = Field(default=8192, ge=256)
    """KV cells shared by all sequences."""
    n_seq_max: int = Field(default=16, ge=1, le=256)
    """Sequences (one per recent process) whose KV cache can be kept."""
    max_concurrency: int = Field(default=8, ge=1)
    """Generations decoded together in one batch."""
    n_batch: int = Field(default=512, ge=8)
    """Most tokens in one `llama_decode` (prefill chunks plus decode tokens)."""
    n_threads: int | None = None
    use_extra_buffers: bool = False
    """llama.cpp's repacked weight buffers (AMX and the like); off because they crash on some VMs."""
    swap_budget_mb: int = Field(default=1024, ge=0)
    """Host memory for KV caches swapped out of the engine."""
    calibration_file: str | None = None
    """Where measured costs (prefill and swap rates) are kept; measured again if absent or stale."""


class EngineStats(BaseModel):
    """Counters the tests and benchmarks read."""

    decode_calls: int = 0
    tokens_decoded: int = 0
    max_sequences_in_one_decode: int = 0
    multi_sequence_decodes: int = 0
    """`llama_decode` calls that carried tokens of more than one sequence."""
    preemptions: int = 0


@dataclass(eq=False)
class _Job:
    """One generation from admission to result (kept across preemptions)."""

    owner: int
    request: LLMSyscall
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[LLMResult]
    program_arrival: float = 0.0
    slice_tokens: int | None = None
    """Yield the batch after this many generated tokens when other calls wait (round robin)."""
    prompt: list[int] = field(default_factory=list)
    seq: Sequence | None = None
    pending: list[int] = field(default_factory=list)
    """Prompt tokens still to prefill."""
    next_token: int | None = None
    """Sampled but not yet fed back (its KV is not in the cache yet)."""
    generated: list[int] = field(default_factory=list)
    generated_at_admission: int = 0
    text: bytearray = field(default_factory=bytearray)
    sampler: object = None
    max_new: int = 0
    reused: int = 0
    cancelled: bool = False
    is_tool_reply: bool = False
    preemptions: int = 0
    decode_calls_at_preemption: int = 0


_Command = (
    tuple[Literal["job"], _Job]
    | tuple[Literal["resume"], _Job]
    | tuple[Literal["release"], int]
    | tuple[Literal["park"], tuple[int, KVDecision]]
    | tuple[Literal["call"], Callable[[], None]]
    | tuple[Literal["stop"], None]
)

IDLE_TICK_S = 0.5
"""How often an idle engine wakes to expire pins and refresh its KV snapshot."""


class LocalEngine(Engine):
    """One llama.cpp context, one decode thread; every active sequence advances in each `llama_decode`."""

    def __init__(self, config: LocalEngineConfig | None = None, *, name: str = "local") -> None:
        self.config = config or LocalEngineConfig()
        self.name = name
        self.max_concurrency = min(self.config.max_concurrency, self.config.n_seq_max)
        self.model_path: Path = resolve_model_path(self.config.model_path)
        self._runtime = LlamaRuntime(
            self.model_path,
            n_ctx=self.config.n_ctx,
            n_seq_max=self.config.n_seq_max,
            n_batch=self.config.n_batch,
            n_threads=self.config.n_threads or default_threads(),
            use_extra_buffers=self.config.use_extra_buffers,
        )
        self._template = ChatTemplate(
            self._runtime.chat_template(),
            bos_token=self._runtime.token_text(self._runtime.bos),
            eos_token=self._runtime.token_text(self._runtime.eos),
        )
        self.model_name = self._runtime.meta("general.name") or self.model_path.stem
        self.kv = KVCache(self._runtime, swap_budget_bytes=self.config.swap_budget_mb * 1024 * 1024)
        self.calibration = self._load_or_measure_calibration()
        self._inbox: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._waiting: deque[_Job] = deque()
        self._active: list[_Job] = []
        self._preempted: list[_Job] = []
        self.waiting_hint = 0
        """Calls the kernel holds for this engine; a positive value lets sliced generations yield."""
        self.stats = EngineStats()
        self._kv_snapshot: list[KVEntry] = []
        self._thread = threading.Thread(target=self._run, name=f"aios-engine-{name}", daemon=True)
        self._thread.start()

    @property
    def n_ctx(self) -> int:
        return self._runtime.n_ctx

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            kind="local",
            model=self.model_name,
            max_concurrency=self.max_concurrency,
            detail=f"{self.model_path} n_ctx={self._runtime.n_ctx} n_seq_max={self._runtime.n_seq_max}",
        )

    def render_prompt(self, request: LLMSyscall) -> str:
        """The exact text the model sees for a request."""
        return self._template.render(template_messages(request))

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a text (for calibration and tests; thread-safe: it touches only the vocabulary)."""
        return self._runtime.tokenize(text)

    def kv_entries(self) -> list[KVEntry]:
        """The KV cache as of the engine's last step (a snapshot; safe from any thread)."""
        return list(self._kv_snapshot)

    async def generate(
        self,
        request: LLMSyscall,
        *,
        owner: int,
        program_arrival: float = 0.0,
        slice_tokens: int | None = None,
        resume: object | None = None,
    ) -> LLMResult:
        """Run a completion; with `slice_tokens` it may raise GenerationPreempted, resumed by `resume`."""
        if not self._thread.is_alive():
            raise EngineError(f"engine {self.name!r} is stopped")
        loop = asyncio.get_running_loop()
        if resume is not None:
            assert isinstance(resume, _Job), "resume takes the handle of a GenerationPreempted"
            job = resume
            job.loop, job.future, job.cancelled = loop, loop.create_future(), False
            self._inbox.put(("resume", job))
        else:
            job = _Job(
                owner=owner,
                request=request,
                loop=loop,
                future=loop.create_future(),
                program_arrival=program_arrival,
                slice_tokens=slice_tokens,
            )
            self._inbox.put(("job", job))
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled = True
            raise

    async def park(self, owner: int, decision: KVDecision) -> None:
        self._inbox.put(("park", (owner, decision)))

    async def release(self, owner: int) -> None:
        self._inbox.put(("release", owner))

    async def close(self) -> None:
        if self._thread.is_alive():
            self._inbox.put(("stop", None))
            await asyncio.to_thread(self._thread.join)
        self._runtime.close()

    def _load_or_measure_calibration(self) -> Calibration:
        """Costs of prefill and swap here (measured before the decode thread starts: it owns the context)."""
        key = f"{self.model_path}|{self.config.n_threads or default_threads()}"
        path = Path(self.config.calibration_file) if self.config.calibration_file else None
        if path is not None and path.is_file():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == key:
                    return Calibration.model_validate(stored["calibration"])
            except (ValueError, KeyError):
                logger.warning("ignoring unreadable calibration file %s", path)
        calibration = measure_calibration(self._runtime)
        logger.info("calibrated %s: %s", self.name, calibration)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"key": key, "calibration": calibration.model_dump()}))
        return calibration

    # ---- the decode thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            idle = not self._active and not self._waiting
            try:
                command = self._inbox.get(timeout=IDLE_TICK_S) if idle else self._inbox.get_nowait()
            except queue.Empty:
                command = None
            if command is not None:
                if not self._handle(command):
                    break
                continue
            try:
                self._drop_cancelled()
                self.kv.expire(time.monotonic())
                self._admit_waiting()
                if self._active:
                    self._step()
            except Exception as e:
                # a bug must not hang every caller: fail what is in flight, drop its KV, keep serving
                logger.exception("engine %s: decode step failed", self.name)
                for job in [*self._active, *self._waiting]:
                    self._finish_seq(job, drop_kv=True)
                    self._fail(job, EngineError(f"engine step failed: {type(e).__name__}: {e}"))
                self._active.clear()
                self._waiting.clear()
            if idle or not self._active:
                self._snapshot()
        for job in [*self._active, *self._waiting]:
            self._fail(job, EngineError("engine stopped"))

    def _snapshot(self) -> None:
        self._kv_snapshot = self.kv.entries(time.monotonic())

    def _handle(self, command: _Command) -> bool:
        kind, arg = command
        if kind == "stop":
            return False
        if kind == "job":
            assert isinstance(arg, _Job)
            self._prepare(arg)
        elif kind == "resume":
            assert isinstance(arg, _Job)
            self._preempted.remove(arg)
            self._waiting.append(arg)
        elif kind == "park":
            assert isinstance(arg, tuple)
            owner, decision = arg
            self.kv.park(
                owner,
                decision.action,
                now=time.monotonic(),
                ttl_s=decision.ttl_s,
                evict_to_host=decision.evict_to_host,
            )
            self._snapshot()
        elif kind == "release":
            assert isinstance(arg, int)
            self._release(arg)
        elif kind == "call":
            assert callable(arg)
            arg()
        return True

    def _prepare(self, job: _Job) -> None:
        """Render, tokenize and build the sampler; failures go straight back to the caller."""
        request = job.request
        try:
            grammar = None
            if request.tools and request.tool_choice != "none":
                schema = tool_call_schema(request.tools, allow_answer=request.tool_choice == "auto")
                grammar = _compile_schema(schema)
                job.is_tool_reply = True
            elif request.response_schema is not None:
                grammar = _compile_schema(request.response_schema)
            job.prompt = self._runtime.tokenize(self.render_prompt(request))
            if len(job.prompt) >= self._runtime.n_ctx:
                raise ContextOverflow(
                    f"prompt of {len(job.prompt)} tokens does not fit the context of {self._runtime.n_ctx}"
                )
            job.max_new = min(request.max_tokens, self._runtime.n_ctx - len(job.prompt))
            sampling = request.sampling
            seed = sampling.seed if sampling.seed is not None else random.getrandbits(32)
            job.sampler = self._runtime.new_sampler(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                seed=seed,
                repeat_penalty=sampling.repeat_penalty,
                grammar=grammar,
            )
        except AiosError as e:
            self._fail(job, e)
            return
        except Exception as e:
            self._fail(job, EngineError(f"could not prepare the request: {e}"))
            return
        self._waiting.append(job)

    def _release(self, owner: int) -> None:
        for job in [j for j in (*self._active, *self._waiting) if j.owner == owner]:
            job.cancelled = True
        self._drop_cancelled()
        for job in [j for j in self._preempted if j.owner == owner]:
            self._preempted.remove(job)
            self._free_sampler(job)
        self.kv.release(owner)
        self._snapshot()

    def _drop_cancelled(self) -> None:
        for job in [j for j in (*self._active, *self._waiting) if j.cancelled]:
            self._finish_seq(job)
            if job in self._active:
                self._active.remove(job)
            else:
                self._waiting.remove(job)
            self._free_sampler(job)

    def _reserved_cells(self) -> int:
        """Cells still to be written by admitted jobs (their remaining prompt and output)."""
        return sum(len(j.pending) + j.max_new - len(j.generated) for j in self._active)

    def _admit_waiting(self) -> None:
        while self._waiting and len(self._active) < self.max_concurrency:
            job = self._waiting[0]
            now = time.monotonic()
            if job.seq is not None:  # a preempted generation coming back
                others_ran = self.stats.decode_calls != job.decode_calls_at_preemption
                if not self.kv.resume(job.seq, now, reserved=self._reserved_cells(), repack=others_ran):
                    return
            else:
                seq = self.kv.acquire(
                    job.owner, arrival=job.program_arrival, now=now, reserved=self._reserved_cells()
                )
                if seq is None:
                    return
                lcp = _common_prefix(seq.tokens, job.prompt)
                if lcp == len(job.prompt):
                    lcp -= 1  # the last prompt token must be decoded again to get its logits
                self.kv.trim(seq, lcp)
                job.seq, job.reused, job.pending = seq, lcp, job.prompt[lcp:]
            need = len(job.pending) + job.max_new - len(job.generated)
            if not self.kv.make_room(need, now=now, keep=job.seq, reserved=self._reserved_cells()):
                if self._active:
                    self._park_waiting(job, now)
                    return
                if job.generated:
                    self._waiting.popleft()
                    self._finish_seq(job, drop_kv=True)
                    self._fail(job, ContextOverflow("no room left to resume this generation"))
                    continue
                # nothing else holds cells: give up this sequence's cached prefix to make room
                self.kv.trim(job.seq, 0)
                job.reused, job.pending = 0, list(job.prompt)
            self._waiting.popleft()
            job.generated_at_admission = len(job.generated)
            self._active.append(job)

    def _park_waiting(self, job: _Job, now: float) -> None:
        """A job that cannot be admitted yet gives its sequence back until the next try."""
        assert job.seq is not None
        if job.generated:
            self.kv.preempt(job.seq, now)
        else:
            self.kv.finish(job.seq, now)
            job.seq = None

    def _step(self) -> None:
        """Build one batch (decode tokens first, then prefill chunks), decode it, sample."""
        entries: list[BatchEntry] = []
        sample_at: list[tuple[_Job, int]] = []
        budget = self._runtime.n_batch
        for job in self._active:
            if job.next_token is not None and budget > 0:
                seq = job.seq
                assert seq is not None and seq.slot is not None
                sample_at.append((job, len(entries)))
                entries.append(
                    BatchEntry(token=job.next_token, pos=len(seq.tokens), seq_id=seq.slot, wants_logits=True)
                )
                budget -= 1
        chunks: list[tuple[_Job, list[int]]] = []
        for job in self._active:
            if job.pending and budget > 0:
                seq = job.seq
                assert seq is not None and seq.slot is not None
                chunk = job.pending[:budget]
                base = len(seq.tokens)
                last = len(chunk) == len(job.pending)
                for i, token in enumerate(chunk):
                    wants = last and i == len(chunk) - 1
                    if wants:
                        sample_at.append((job, len(entries)))
                    entries.append(BatchEntry(token=token, pos=base + i, seq_id=seq.slot, wants_logits=wants))
                chunks.append((job, chunk))
                budget -= len(chunk)
        if not entries:
            return
        rc = self._runtime.decode(entries)
        if rc != 0:
            self._on_decode_failure(rc)
            return
        self._count(entries)
        for job, _index in sample_at:
            if job.next_token is not None:
                assert job.seq is not None
                job.seq.tokens.append(job.next_token)
                job.next_token = None
        for job, chunk in chunks:
            assert job.seq is not None
            job.seq.tokens.extend(chunk)
            del job.pending[: len(chunk)]
        for job, index in sample_at:
            self._advance(job, self._runtime.sample(job.sampler, index))

    def _count(self, entries: list[BatchEntry]) -> None:
        seqs = len({e.seq_id for e in entries})
        self.stats.decode_calls += 1
        self.stats.tokens_decoded += len(entries)
        self.stats.max_sequences_in_one_decode = max(self.stats.max_sequences_in_one_decode, seqs)
        if seqs > 1:
            self.stats.multi_sequence_decodes += 1

    def _on_decode_failure(self, rc: int) -> None:
        """No KV room (rc 1) or a hard error: free idle cells, else fail the youngest job."""
        logger.warning("engine %s: llama_decode=%d with %d cells in use", self.name, rc, self.kv.used_cells)
        if rc == 1 and self.kv.evict_one(time.monotonic()):
            return
        job = self._active[-1]
        self._active.remove(job)
        self._finish_seq(job, drop_kv=True)
        error = ContextOverflow("the KV cache is full") if rc == 1 else EngineError(f"llama_decode={rc}")
        self._fail(job, error)

    def _advance(self, job: _Job, token: int) -> None:
        request = job.request
        eog = self._runtime.is_eog(token) and not request.sampling.ignore_eos
        if not eog:
            job.generated.append(token)
            job.text.extend(self._runtime.piece(token))
        text = job.text.decode("utf-8", "ignore")
        stop_at = _stop_index(text, request.stop)
        if eog or stop_at is not None:
            self._complete(job, text if stop_at is None else text[:stop_at], "stop")
        elif len(job.generated) >= job.max_new:
            self._complete(job, text, "length")
        else:
            job.next_token = token
            if self._should_yield(job):
                self._preempt(job)

    def _should_yield(self, job: _Job) -> bool:
        return (
            job.slice_tokens is not None
            and self.waiting_hint > 0
            and len(job.generated) - job.generated_at_admission >= job.slice_tokens
        )

    def _preempt(self, job: _Job) -> None:
        """Stop a generation mid-way: its sequence and sampler stay as they are until it is resumed."""
        assert job.seq is not None
        self._active.remove(job)
        self.kv.preempt(job.seq, time.monotonic())
        job.preemptions += 1
        job.decode_calls_at_preemption = self.stats.decode_calls
        self.stats.preemptions += 1
        self._preempted.append(job)
        _deliver(job, GenerationPreempted(f"preempted after {len(job.generated)} tokens", handle=job))

    def _complete(self, job: _Job, text: str, reason: Literal["stop", "length"]) -> None:
        self._active.remove(job)
        self._finish_seq(job)
        usage = Usage(
            prompt_tokens=len(job.prompt),
            completion_tokens=len(job.generated),
            reused_tokens=job.reused,
            prefilled_tokens=len(job.prompt) - job.reused,
        )
        content, calls = text, ()
        if job.is_tool_reply and reason == "stop":
            try:
                content, calls = parse_tool_reply(text)
            except (ValueError, KeyError) as e:
                logger.warning("grammar-constrained reply did not parse (%s): %r", e, text[:200])
        result = LLMResult(
            content=content,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else reason,
            usage=usage,
            model=self.model_name,
        )
        self._free_sampler(job)
        _deliver(job, result)

    def _finish_seq(self, job: _Job, *, drop_kv: bool = False) -> None:
        if job.seq is not None:
            self.kv.finish(job.seq, time.monotonic(), drop=drop_kv)
            job.seq = None

    def _free_sampler(self, job: _Job) -> None:
        if job.sampler is not None:
            self._runtime.free_sampler(job.sampler)  # type: ignore[arg-type]
            job.sampler = None

    def _fail(self, job: _Job, error: Exception) -> None:
        self._free_sampler(job)
        _deliver(job, error)


CALIBRATION_TOKENS = 256


def measure_calibration(runtime: LlamaRuntime) -> Calibration:
    """Time a prefill of 256 tokens and a swap of its KV out and back on this machine."""
    text = "The kernel schedules agents onto the engine and keeps their caches between tool calls. " * 40
    tokens = runtime.tokenize(text)[:CALIBRATION_TOKENS]

    def prefill() -> float:
        runtime.seq_remove(0, 0, -1)
        entries = [BatchEntry(token=t, pos=i, seq_id=0, wants_logits=False) for i, t in enumerate(tokens)]
        started = time.perf_counter()
        rc = runtime.decode(entries)
        if rc != 0:
            raise EngineError(f"calibration prefill failed: llama_decode={rc}")
        return time.perf_counter() - started

    prefill()  # warm-up
    prefill_s = min(prefill(), prefill())
    started = time.perf_counter()
    data = runtime.state_get(0)
    out_s = time.perf_counter() - started
    runtime.seq_remove(0, 0, -1)
    started = time.perf_counter()
    if not runtime.state_set(0, data):
        raise EngineError("calibration swap-in failed")
    in_s = time.perf_counter() - started
    runtime.clear()
    return Calibration(
        prefill_tokens_per_s=len(tokens) / prefill_s,
        swap_out_bytes_per_s=len(data) / max(out_s, 1e-6),
        swap_in_bytes_per_s=len(data) / max(in_s, 1e-6),
        kv_bytes_per_token=len(data) / len(tokens),
    )


def _compile_schema(schema: dict[str, object]) -> str:
    try:
        return json_schema_to_gbnf(json.dumps(grammar_friendly(schema)))
    except Exception as e:
        raise InvalidSyscall(f"response_schema cannot be turned into a grammar: {e}") from e


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _stop_index(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def _deliver(job: _Job, outcome: LLMResult | BaseException) -> None:
    def resolve() -> None:
        if job.future.done():
            return
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    try:
        job.loop.call_soon_threadsafe(resolve)
    except RuntimeError:
        logger.debug("result for pid %s dropped: its event loop is closed", job.owner)
