"""A thin, typed wrapper over llama-cpp-python's low-level C API: one model, one multi-sequence context.

Every method that computes must be called from the single engine thread that owns the context: llama.cpp's
OpenMP build keeps a team of worker threads per calling thread, and a second team on the same cores made
every later decode about a third slower (the old calibration ran on another thread). Tokenizing is safe from
any thread: it reads only the vocabulary.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np

from aios.kernel.engines.batching import BatchEntry
from aios.kernel.engines.configs import KVType
from aios.kernel.errors import ConfigError, EngineError

logger = logging.getLogger(__name__)

REPEAT_PENALTY_WINDOW = 64
"""Tokens looked back over by the repetition penalty."""

GGML_TYPES: dict[KVType, int] = {"f16": 1, "q8_0": 8, "bf16": 30}
"""ggml's type ids (ggml.h) of the KV cache storage types aios offers."""
_BYTES_PER_VALUE: dict[KVType, float] = {"f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32}

_backend_lock = threading.Lock()
_backend_ready = False


@llama_cpp.llama_log_callback
def log_to_logging(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    logger.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())


def init_backend() -> None:
    """Route llama.cpp's log to `logging` and start its backend, once per process."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_log_set(log_to_logging, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _backend_ready = True


class LlamaRuntime:
    """Owns a llama.cpp model and a context with `n_seq_max` sequences: in one shared KV cache, or each
    in its own stream (`per_sequence_kv`)."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int,
        n_seq_max: int,
        n_batch: int,
        n_threads: int,
        use_extra_buffers: bool = False,
        repack_weights: bool = False,
        kv_type: KVType = "f16",
        per_sequence_kv: bool = False,
    ) -> None:
        """`repack_weights`: the block matrices on llama.cpp's CPU_REPACK buffers, for files whose block
        matrices are all Q4_0 (those `requantize` writes); without AMX, unlike `use_extra_buffers`."""
        init_backend()
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        # repacked weight buffers: AMX ones crashed multi-token decodes on an AMX virtual machine
        model_params.use_extra_bufts = use_extra_buffers and not repack_weights
        self._overrides = repack_overrides() if repack_weights else None
        if self._overrides is not None:
            model_params.tensor_buft_overrides = ctypes.cast(self._overrides, ctypes.c_void_p)
        self._model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), model_params)
        if not self._model:
            raise ConfigError(f"local.model_path: llama.cpp could not load {model_path}")
        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = n_batch
        ctx_params.n_ubatch = n_batch
        ctx_params.n_seq_max = n_seq_max
        # per-sequence streams: no sequence's cells ever interleave with another's (see docs/architecture.md)
        ctx_params.kv_unified = not per_sequence_kv
        ctx_params.type_k = ctx_params.type_v = GGML_TYPES[kv_type]
        ctx_params.n_threads = n_threads
        ctx_params.n_threads_batch = n_threads
        ctx_params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(self._model, ctx_params)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise EngineError(f"llama.cpp could not create a context (n_ctx={n_ctx}, n_seq_max={n_seq_max})")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_ctx_seq = llama_cpp.llama_n_ctx_seq(self._ctx)
        """Cells one sequence may use: all of them when shared, n_ctx / n_seq_max per stream otherwise."""
        self.per_sequence_kv = per_sequence_kv
        self.n_batch = n_batch
        self.n_seq_max = n_seq_max
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._piece_buf = ctypes.create_string_buffer(256)
        self._candidates = _Candidates(self.n_vocab)
        self.kv_bytes_per_token = _kv_bytes_per_token(self._model, kv_type)
        self.model_path = model_path

    def close(self) -> None:
        """Free the batch, context and model."""
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            llama_cpp.llama_model_free(self._model)
            self._ctx = None
            self._model = None

    @property
    def model(self) -> llama_cpp.llama_model_p:
        """The raw model (libmtmd binds its projector to it)."""
        return self._model

    @property
    def context(self) -> llama_cpp.llama_context_p:
        """The raw context (libmtmd decodes image embeddings into it, on the engine thread)."""
        return self._ctx

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as text."""
        buf = ctypes.create_string_buffer(1024)
        n = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def chat_template(self) -> str | None:
        """The chat template stored in the GGUF file."""
        raw = llama_cpp.llama_model_chat_template(self._model, None)
        return raw.decode("utf-8") if raw else None

    def token_text(self, token: int) -> str:
        """A special token's text (for the template's bos/eos variables)."""
        return self.piece(token, special=True).decode("utf-8", "replace")

    @property
    def bos(self) -> int:
        return llama_cpp.llama_vocab_bos(self._vocab)

    @property
    def eos(self) -> int:
        return llama_cpp.llama_vocab_eos(self._vocab)

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a rendered prompt; special tokens in the text are parsed as such."""
        data = text.encode("utf-8")
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        capacity = len(data) + 8
        out = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), out, capacity, add_bos, True)
        if n < 0:
            raise EngineError(f"tokenizer needed {-n} slots, had {capacity}")
        return list(out[:n])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes one token stands for."""
        n = llama_cpp.llama_token_to_piece(
            self._vocab, token, self._piece_buf, len(self._piece_buf), 0, special
        )
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, big, len(big), 0, special)
            return big.raw[:n]
        return self._piece_buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def decode(self, entries: list[BatchEntry]) -> int:
        """Run one `llama_decode`; 0 is success, 1 means no room in the KV cache, <0 an error."""
        assert 0 < len(entries) <= self.n_batch, f"batch of {len(entries)} tokens, limit {self.n_batch}"
        batch = self._batch
        for i, entry in enumerate(entries):
            batch.token[i] = entry.token
            batch.pos[i] = entry.pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = entry.seq_id
            batch.logits[i] = entry.wants_logits
        batch.n_tokens = len(entries)
        return int(llama_cpp.llama_decode(self._ctx, batch))

    def seq_remove(self, seq_id: int, start: int, end: int = -1) -> None:
        """Drop positions [start, end) of a sequence from the KV cache (end -1: to the end)."""
        if not llama_cpp.llama_memory_seq_rm(self._memory, seq_id, start, end):
            raise EngineError(f"llama.cpp refused to remove positions {start}..{end} of sequence {seq_id}")

    def seq_copy(self, src: int, dst: int, end: int) -> None:
        """Give `dst` positions [0, end) of `src` in the shared cache: the cells gain a sequence id, no
        data is copied or recomputed."""
        llama_cpp.llama_memory_seq_cp(self._memory, src, dst, 0, end)

    def clear(self) -> None:
        """Empty the whole KV cache and reset its layout (after calibration, before any real work)."""
        llama_cpp.llama_memory_clear(self._memory, True)

    def state_get(self, seq_id: int) -> bytes:
        """A copy of one sequence's KV state, to keep in host memory."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, seq_id)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, seq_id)
        if written != size:
            raise EngineError(f"llama.cpp copied {written} of {size} bytes of sequence {seq_id}")
        return bytes(buf)

    def state_set(self, seq_id: int, data: bytes) -> bool:
        """Load a sequence's KV state saved by `state_get` (into any sequence id); False if it did not fit."""
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        return llama_cpp.llama_state_seq_set_data(self._ctx, buf, len(data), seq_id) != 0

    def new_sampler(
        self, *, temperature: float, top_p: float, seed: int, repeat_penalty: float, grammar: str | None
    ) -> Sampler:
        """A sampler for one sequence: penalties, then greedy or top-p/temperature; the grammar apart."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        constraint = None
        if grammar is not None:
            constraint = llama_cpp.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
            if not constraint:
                llama_cpp.llama_sampler_free(chain)
                raise EngineError("llama.cpp could not compile the output grammar")
        if repeat_penalty != 1.0:
            # penalties scan every candidate: cut to the top 40 first (greedy picks the same token)
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(40))
            llama_cpp.llama_sampler_chain_add(
                chain,
                llama_cpp.llama_sampler_init_penalties(
                    self.n_vocab, REPEAT_PENALTY_WINDOW, repeat_penalty, 0.0, 0.0
                ),
            )
        if temperature == 0.0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(top_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
        is_argmax = temperature == 0.0 and repeat_penalty == 1.0 and constraint is None
        return Sampler(chain=chain, grammar=constraint, is_argmax=is_argmax)

    def sample(self, sampler: Sampler, batch_index: int) -> int:
        """Sample (and accept) the next token from the logits at `batch_index` of the last batch.

        With a grammar, the token is chosen first and only that token is checked against the grammar;
        the grammar is applied to the whole vocabulary only when it rejects the choice (as llama.cpp's
        own sampler does): checking 49k candidates every token cost about 20 ms.
        """
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(self._ctx, batch_index), shape=(self.n_vocab,)
        )
        if sampler.is_argmax:
            # the first highest logit, as llama.cpp's greedy sampler picks, without its copy of the vocabulary
            return int(logits.argmax())
        if sampler.grammar is None:
            return int(llama_cpp.llama_sampler_sample(sampler.chain, self._ctx, batch_index))
        candidates = self._candidates.fill(logits)
        llama_cpp.llama_sampler_apply(sampler.chain, candidates.pointer)
        token = candidates.chosen()
        if not self._candidates.allowed(sampler.grammar, token, float(logits[token])):
            candidates = self._candidates.fill(logits)
            llama_cpp.llama_sampler_apply(sampler.grammar, candidates.pointer)
            llama_cpp.llama_sampler_apply(sampler.chain, candidates.pointer)
            token = candidates.chosen()
        llama_cpp.llama_sampler_accept(sampler.grammar, token)
        llama_cpp.llama_sampler_accept(sampler.chain, token)
        return token

    @staticmethod
    def free_sampler(sampler: Sampler) -> None:
        llama_cpp.llama_sampler_free(sampler.chain)
        if sampler.grammar is not None:
            llama_cpp.llama_sampler_free(sampler.grammar)


@dataclass(frozen=True, kw_only=True)
class Sampler:
    """One sequence's sampler chain and, apart from it, its output grammar."""

    chain: llama_cpp.llama_sampler_p
    grammar: llama_cpp.llama_sampler_p | None = None
    is_argmax: bool = False
    """Plain greedy (no penalty, no grammar): the chain is stateless and the pick is the logits' argmax."""


_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


class _Candidates:
    """A reusable candidate array over the whole vocabulary, filled from logits with numpy."""

    def __init__(self, n_vocab: int) -> None:
        self._data = (llama_cpp.llama_token_data * n_vocab)()
        self._view = np.frombuffer(self._data, dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._array = llama_cpp.llama_token_data_array(
            data=self._data, size=n_vocab, selected=-1, sorted=False
        )
        self.pointer = ctypes.pointer(self._array)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)

    def fill(self, logits: np.ndarray) -> _Candidates:
        self._view["id"] = self._ids
        self._view["logit"] = logits
        self._view["p"] = 0.0
        self._array.data = self._data
        self._array.size = len(self._ids)
        self._array.selected = -1
        self._array.sorted = False
        return self

    def chosen(self) -> int:
        return int(self._array.data[self._array.selected].id)

    def allowed(self, grammar: llama_cpp.llama_sampler_p, token: int, logit: float) -> bool:
        """Whether the grammar lets `token` come next (it marks rejected candidates with -inf)."""
        self._one[0].id, self._one[0].logit, self._one[0].p = token, logit, 0.0
        self._one_array.size, self._one_array.selected, self._one_array.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(grammar, ctypes.pointer(self._one_array))
        return self._one[0].logit != float("-inf")


def _kv_bytes_per_token(model: llama_cpp.llama_model_p, kv_type: KVType) -> float:
    """Bytes one token's keys and values take in the cache (what swapping it costs to copy)."""
    n_layer = llama_cpp.llama_model_n_layer(model)
    head_dim = llama_cpp.llama_model_n_embd(model) // llama_cpp.llama_model_n_head(model)
    values = n_layer * 2 * llama_cpp.llama_model_n_head_kv(model) * head_dim
    return values * _BYTES_PER_VALUE[kv_type]


class _BuftOverride(ctypes.Structure):
    """llama.h's `llama_model_tensor_buft_override`: tensors whose name matches go to that buffer type."""

    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


_BLOCK_MATRICES = rb"^blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight$"


def repack_overrides() -> ctypes.Array[_BuftOverride] | None:
    """Block matrices onto CPU_REPACK, where this CPU has it (None: it has not, load as usual)."""
    lib = llama_cpp.llama_cpp._lib
    lib.ggml_backend_dev_by_type.restype = ctypes.c_void_p
    lib.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
    lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    lib.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.ggml_backend_buft_name.restype = ctypes.c_char_p
    lib.ggml_backend_buft_name.argtypes = [ctypes.c_void_p]
    cpu = lib.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    address = lib.ggml_backend_reg_get_proc_address(
        lib.ggml_backend_dev_backend_reg(cpu), b"ggml_backend_dev_get_extra_bufts"
    )
    if not address:
        return None
    extra = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(address)(cpu)
    i = 0
    while extra[i]:
        if lib.ggml_backend_buft_name(extra[i]) == b"CPU_REPACK":
            return (_BuftOverride * 2)(_BuftOverride(_BLOCK_MATRICES, extra[i]), _BuftOverride(None, None))
        i += 1
    logger.info("llama.cpp has no CPU_REPACK buffers on this CPU: the weights load as they are")
    return None


def default_threads() -> int:
    """llama.cpp threads: every core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))
