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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aios.kernel.engines.chat_format import (
    ChatTemplate,
    grammar_friendly,
    parse_tool_reply,
    template_messages,
    tool_call_schema,
)
from aios.kernel.engines.interface import Engine, EngineInfo
from aios.kernel.engines.llama_runtime import BatchEntry, LlamaRuntime, default_threads
from aios.kernel.engines.model_file import resolve_model_path
from aios.kernel.errors import AiosError, ContextOverflow, EngineError, InvalidSyscall
from aios.kernel.syscalls import LLMResult, LLMSyscall, Usage
from llama_cpp.llama_grammar import json_schema_to_gbnf
from pydantic import BaseModel, ConfigDict, Field

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


class EngineStats(BaseModel):
    """Counters the tests and benchmarks read."""

    decode_calls: int = 0
    tokens_decoded: int = 0
    max_sequences_in_one_decode: int = 0
    multi_sequence_decodes: int = 0
    """`llama_decode` calls that carried tokens of more than one sequence."""


@dataclass(eq=False)
class _Slot:
    """One llama.cpp sequence; `tokens` mirrors exactly what its KV cache holds."""

    seq_id: int
    owner: int | None = None
    tokens: list[int] = field(default_factory=list)
    last_used: float = 0.0
    busy: bool = False


@dataclass(eq=False)
class _Job:
    """One generation from admission to result."""

    owner: int
    request: LLMSyscall
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[LLMResult]
    prompt: list[int] = field(default_factory=list)
    slot: _Slot | None = None
    pending: list[int] = field(default_factory=list)
    """Prompt tokens still to prefill."""
    next_token: int | None = None
    """Sampled but not yet fed back (its KV is not in the cache yet)."""
    generated: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)
    sampler: object = None
    max_new: int = 0
    reused: int = 0
    cancelled: bool = False
    is_tool_reply: bool = False


_Command = tuple[Literal["job"], _Job] | tuple[Literal["release"], int] | tuple[Literal["stop"], None]


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
        self._slots = [_Slot(seq_id=i) for i in range(self._runtime.n_seq_max)]
        self._inbox: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._waiting: deque[_Job] = deque()
        self._active: list[_Job] = []
        self.stats = EngineStats()
        self._thread = threading.Thread(target=self._run, name=f"aios-engine-{name}", daemon=True)
        self._thread.start()

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

    async def generate(self, request: LLMSyscall, *, owner: int) -> LLMResult:
        if not self._thread.is_alive():
            raise EngineError(f"engine {self.name!r} is stopped")
        loop = asyncio.get_running_loop()
        job = _Job(owner=owner, request=request, loop=loop, future=loop.create_future())
        self._inbox.put(("job", job))
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled = True
            raise

    async def release(self, owner: int) -> None:
        self._inbox.put(("release", owner))

    async def close(self) -> None:
        if self._thread.is_alive():
            self._inbox.put(("stop", None))
            await asyncio.to_thread(self._thread.join)
        self._runtime.close()

    # ---- the decode thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            block = not self._active and not self._waiting
            try:
                command = self._inbox.get() if block else self._inbox.get_nowait()
            except queue.Empty:
                command = None
            if command is not None:
                if not self._handle(command):
                    break
                continue
            try:
                self._drop_cancelled()
                self._admit_waiting()
                if self._active:
                    self._step()
            except Exception as e:
                # a bug must not hang every caller: fail what is in flight, drop its KV, keep serving
                logger.exception("engine %s: decode step failed", self.name)
                for job in [*self._active, *self._waiting]:
                    self._finish_slot(job, drop_kv=True)
                    self._fail(job, EngineError(f"engine step failed: {type(e).__name__}: {e}"))
                self._active.clear()
                self._waiting.clear()
        for job in [*self._active, *self._waiting]:
            self._fail(job, EngineError("engine stopped"))

    def _handle(self, command: _Command) -> bool:
        kind, arg = command
        if kind == "stop":
            return False
        if kind == "job":
            assert isinstance(arg, _Job)
            self._prepare(arg)
        elif kind == "release":
            assert isinstance(arg, int)
            self._release(arg)
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
        for slot in self._slots:
            if slot.owner == owner and not slot.busy:
                self._evict(slot)

    def _drop_cancelled(self) -> None:
        for job in [j for j in (*self._active, *self._waiting) if j.cancelled]:
            self._finish_slot(job)
            if job in self._active:
                self._active.remove(job)
            else:
                self._waiting.remove(job)
            self._free_sampler(job)

    def _used_cells(self) -> int:
        return sum(len(slot.tokens) for slot in self._slots)

    def _reserved_cells(self) -> int:
        """Cells still to be written by admitted jobs (their remaining prompt and output)."""
        return sum(len(j.pending) + j.max_new - len(j.generated) for j in self._active)

    def _evict(self, slot: _Slot) -> None:
        if slot.tokens:
            self._runtime.seq_remove(slot.seq_id, 0, -1)
        slot.tokens = []
        slot.owner = None

    def _idle_slots_lru(self, keep: _Slot | None = None) -> list[_Slot]:
        idle = [s for s in self._slots if not s.busy and s is not keep]
        return sorted(idle, key=lambda s: (s.owner is not None, s.last_used))

    def _admit_waiting(self) -> None:
        while self._waiting and len(self._active) < self.max_concurrency:
            job = self._waiting[0]
            slot = self._slot_for(job.owner)
            if slot is None:
                return
            lcp = _common_prefix(slot.tokens, job.prompt)
            if lcp == len(job.prompt):
                lcp -= 1  # the last prompt token must be decoded again to get its logits
            need = len(job.prompt) - lcp + job.max_new
            while self._used_cells() - (len(slot.tokens) - lcp) + self._reserved_cells() + need > (
                self._runtime.n_ctx
            ):
                victims = self._idle_slots_lru(keep=slot)
                victims = [v for v in victims if v.tokens]
                if not victims:
                    if not self._active:
                        # nothing else holds cells: shorten this slot's reuse to make room
                        lcp = 0
                        break
                    return
                self._evict(victims[0])
            self._waiting.popleft()
            if lcp < len(slot.tokens):
                self._runtime.seq_remove(slot.seq_id, lcp, -1)
                del slot.tokens[lcp:]
            slot.owner = job.owner
            slot.busy = True
            job.slot = slot
            job.reused = lcp
            job.pending = job.prompt[lcp:]
            self._active.append(job)

    def _slot_for(self, owner: int) -> _Slot | None:
        """The owner's idle sequence (its cache), else the least valuable idle one; None if all are busy."""
        for slot in self._slots:
            if slot.owner == owner and not slot.busy:
                return slot
        victims = self._idle_slots_lru()
        if not victims:
            return None
        slot = victims[0]
        self._evict(slot)
        return slot

    def _step(self) -> None:
        """Build one batch (decode tokens first, then prefill chunks), decode it, sample."""
        entries: list[BatchEntry] = []
        sample_at: list[tuple[_Job, int]] = []
        budget = self._runtime.n_batch
        for job in self._active:
            if job.next_token is not None and budget > 0:
                assert job.slot is not None
                sample_at.append((job, len(entries)))
                entries.append(
                    BatchEntry(
                        token=job.next_token,
                        pos=len(job.slot.tokens),
                        seq_id=job.slot.seq_id,
                        wants_logits=True,
                    )
                )
                budget -= 1
        chunks: list[tuple[_Job, list[int]]] = []
        for job in self._active:
            if job.pending and budget > 0:
                assert job.slot is not None
                chunk = job.pending[:budget]
                base = len(job.slot.tokens)
                last = len(chunk) == len(job.pending)
                for i, token in enumerate(chunk):
                    wants = last and i == len(chunk) - 1
                    if wants:
                        sample_at.append((job, len(entries)))
                    entries.append(
                        BatchEntry(token=token, pos=base + i, seq_id=job.slot.seq_id, wants_logits=wants)
                    )
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
                assert job.slot is not None
                job.slot.tokens.append(job.next_token)
                job.next_token = None
        for job, chunk in chunks:
            assert job.slot is not None
            job.slot.tokens.extend(chunk)
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
        if rc == 1:
            victims = [s for s in self._idle_slots_lru() if s.tokens]
            if victims:
                self._evict(victims[0])
                return
        job = self._active[-1]
        self._active.remove(job)
        self._finish_slot(job, drop_kv=True)
        self._fail(
            job, ContextOverflow("the KV cache is full") if rc == 1 else EngineError(f"llama_decode={rc}")
        )

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

    def _complete(self, job: _Job, text: str, reason: Literal["stop", "length"]) -> None:
        self._active.remove(job)
        self._finish_slot(job)
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

    def _finish_slot(self, job: _Job, *, drop_kv: bool = False) -> None:
        slot = job.slot
        if slot is None:
            return
        slot.busy = False
        slot.last_used = time.monotonic()
        job.slot = None
        if drop_kv:
            self._evict(slot)

    def _free_sampler(self, job: _Job) -> None:
        if job.sampler is not None:
            self._runtime.free_sampler(job.sampler)  # type: ignore[arg-type]
            job.sampler = None

    def _fail(self, job: _Job, error: Exception) -> None:
        self._free_sampler(job)
        _deliver(job, error)


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


def _deliver(job: _Job, outcome: LLMResult | Exception) -> None:
    def resolve() -> None:
        if job.future.done():
            return
        if isinstance(outcome, Exception):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    try:
        job.loop.call_soon_threadsafe(resolve)
    except RuntimeError:
        logger.debug("result for pid %s dropped: its event loop is closed", job.owner)
