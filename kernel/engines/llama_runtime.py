"""A thin, typed wrapper over llama-cpp-python's low-level C API: one model, one multi-sequence context.

Every method must be called from the single engine thread that owns the context.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from aios.kernel.errors import ConfigError, EngineError

logger = logging.getLogger(__name__)

REPEAT_PENALTY_WINDOW = 64
"""Tokens looked back over by the repetition penalty."""

_backend_lock = threading.Lock()
_backend_ready = False


@llama_cpp.llama_log_callback
def _log_to_logging(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    logger.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_log_set(_log_to_logging, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _backend_ready = True


@dataclass(frozen=True, kw_only=True)
class BatchEntry:
    """One token of a `llama_decode` batch."""

    token: int
    pos: int
    seq_id: int
    wants_logits: bool


class LlamaRuntime:
    """Owns a llama.cpp model and a context with `n_seq_max` sequences sharing one unified KV cache."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int,
        n_seq_max: int,
        n_batch: int,
        n_threads: int,
        use_extra_buffers: bool = False,
    ) -> None:
        _init_backend()
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        # repacked (AMX) weight buffers crash multi-token decodes on some virtual machines
        model_params.use_extra_bufts = use_extra_buffers
        self._model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), model_params)
        if not self._model:
            raise ConfigError(f"local.model_path: llama.cpp could not load {model_path}")
        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = n_batch
        ctx_params.n_ubatch = n_batch
        ctx_params.n_seq_max = n_seq_max
        ctx_params.kv_unified = True
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
        self.n_batch = n_batch
        self.n_seq_max = n_seq_max
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._piece_buf = ctypes.create_string_buffer(256)
        self.model_path = model_path

    def close(self) -> None:
        """Free the batch, context and model."""
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            llama_cpp.llama_model_free(self._model)
            self._ctx = None
            self._model = None

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
    ) -> llama_cpp.llama_sampler_p:
        """A sampler chain for one sequence: penalties, optional grammar, then greedy or top-p/temperature."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if grammar is not None:
            grammar_sampler = llama_cpp.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
            if not grammar_sampler:
                llama_cpp.llama_sampler_free(chain)
                raise EngineError("llama.cpp could not compile the output grammar")
            llama_cpp.llama_sampler_chain_add(chain, grammar_sampler)
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
        return chain

    def sample(self, sampler: llama_cpp.llama_sampler_p, batch_index: int) -> int:
        """Sample (and accept) the next token from the logits at `batch_index` of the last batch."""
        return int(llama_cpp.llama_sampler_sample(sampler, self._ctx, batch_index))

    @staticmethod
    def free_sampler(sampler: llama_cpp.llama_sampler_p) -> None:
        llama_cpp.llama_sampler_free(sampler)


def default_threads() -> int:
    """llama.cpp threads: every core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))
