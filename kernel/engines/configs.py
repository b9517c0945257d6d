"""Engine settings: plain models, importable without loading llama.cpp or litellm (the CLI reads them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

CacheHints = Literal["auto", "anthropic", "openai", "vllm", "llamacpp", "none"]
KVType = Literal["f16", "bf16", "q8_0"]
PrefixSharing = Literal["user", "all", "none"]
Weights = Literal["as_is", "q4_0"]


class LocalEngineConfig(BaseModel):
    """Settings of the embedded llama.cpp engine."""

    model_config = ConfigDict(extra="forbid")

    model_path: str | None = None
    """A GGUF file; None means the embedded SmolLM2-135M-Instruct."""
    mmproj: str | None = None
    """The multimodal projector GGUF made for `model_path` (llama.cpp's `--mmproj`): with one that reads
    images, the engine takes calls with images; without, it refuses them."""
    n_ctx: int = Field(default=8192, ge=256)
    """KV cells: shared by all sequences, or split evenly between them when `deterministic`."""
    n_seq_max: int = Field(default=16, ge=1, le=256)
    """Sequences (one per recent process) whose KV cache can be kept."""
    max_concurrency: int = Field(default=8, ge=1)
    """Generations decoded together in one batch."""
    n_batch: int = Field(default=512, ge=8)
    """Most tokens in one `llama_decode` (prefill chunks plus decode tokens)."""
    n_threads: int | None = None
    use_extra_buffers: bool = False
    """llama.cpp's repacked weight buffers (AMX and the like): they crashed on an AMX virtual machine, and
    they make a token's arithmetic depend on how many tokens share its batch."""
    weights: Weights = "as_is"
    """The model file as it is, or requantized once to Q4_0 (kept in the data dir, next to the calibration
    file) and run with llama.cpp's repacked weight buffers: faster decode for a small loss of quality."""
    kv_type: KVType | None = None
    """How the KV cache is stored; default f16, or bf16 when `deterministic`."""
    deterministic: bool = False
    """Greedy output independent of what else runs and of preemption: every sequence gets its own KV
    stream of n_ctx // n_seq_max cells, stored as bf16 or q8_0 (see docs/architecture.md)."""
    share_prefixes: PrefixSharing = "user"
    """Start a call from the longest prompt prefix another sequence holds: among one user's processes
    (`user`), among everyone's (`all`: the time to first token then tells one user what another's prompts
    begin with), or never (`none`)."""
    swap_budget_mb: int = Field(default=1024, ge=0)
    """Host memory for KV caches swapped out of the engine."""
    calibration_file: str | None = None
    """Where costs measured from the engine's own prefills and swaps are kept between runs."""

    @model_validator(mode="after")
    def _deterministic_needs_a_stable_kv_type(self) -> LocalEngineConfig:
        if self.deterministic and self.kv_type == "f16":
            raise ValueError(
                "deterministic needs kv_type bf16 or q8_0: llama.cpp picks among attention kernels "
                "with different rounding for f16 depending on the batch"
            )
        if self.deterministic and self.use_extra_buffers:
            raise ValueError("deterministic cannot use_extra_buffers: repacked weights round by batch size")
        if self.deterministic and self.weights != "as_is":
            raise ValueError(
                f"deterministic cannot use weights {self.weights!r}: they run on repacked weight buffers, "
                "which round by batch size"
            )
        if self.deterministic and self.n_ctx // self.n_seq_max < 256:
            raise ValueError(
                f"deterministic gives every sequence n_ctx // n_seq_max = {self.n_ctx // self.n_seq_max} "
                "cells; raise n_ctx to at least 256 per sequence"
            )
        return self

    @property
    def resolved_kv_type(self) -> KVType:
        return self.kv_type or ("bf16" if self.deterministic else "f16")


class LocalModelConfig(LocalEngineConfig):
    """A configured local (llama.cpp) engine."""

    kind: Literal["local"] = "local"


class RemoteModelConfig(BaseModel):
    """One model reached through litellm."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["litellm"] = "litellm"
    model: str
    """litellm model string, e.g. `openai/gpt-4o-mini` or `anthropic/claude-sonnet-4-5`."""
    api_base: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    """Retries after a rate limit, with exponential backoff."""
    retry_backoff_s: float = Field(default=1.0, ge=0)
    max_concurrency: int = Field(default=16, ge=1)
    context_tokens: int = Field(default=8192, ge=256)
    """The model's context window as far as the kernel needs it: `llm(memory=True)` assembles prompts
    to fit it (the provider itself rejects prompts that are too long)."""
    cache_hints: CacheHints = "auto"
    """Cache controls to send: guessed from the model prefix (anthropic/, openai/, hosted_vllm/) or named."""
    vision: bool | None = None
    """Whether the model reads images: None asks litellm's model list (`litellm.supports_vision`); set it
    for a model litellm does not know (a self-hosted one)."""
    llamacpp_slots: int = Field(default=4, ge=1)
    """Slots of a llama.cpp server (cache_hints = "llamacpp"): each process sticks to one."""


ModelConfig = Annotated[LocalModelConfig | RemoteModelConfig, Field(discriminator="kind")]
