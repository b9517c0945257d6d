"""What goes into one `llama_decode`: a pure function of the running generations, testable by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class BatchEntry:
    """One token of a `llama_decode` batch."""

    token: int
    pos: int
    seq_id: int
    wants_logits: bool


@dataclass(frozen=True, kw_only=True)
class GenerationView:
    """What batch building needs to know about one running generation."""

    key: int
    """Identifies the generation in the plan (the engine's job id)."""
    slot: int
    """Its llama.cpp sequence id."""
    cached_tokens: int
    """Tokens already in its KV cache: the position of its next token."""
    next_token: int | None
    """A sampled token not yet fed back; None while its prompt is still being prefilled."""
    pending: Sequence[int]
    """Prompt tokens still to prefill (empty once the prompt is in the cache)."""
    sample_after_prefill: bool = True
    """False when refilling a lost cache: the token to continue with was sampled already."""


@dataclass(kw_only=True)
class BatchPlan:
    entries: list[BatchEntry] = field(default_factory=list)
    decoded: list[int] = field(default_factory=list)
    """Keys whose `next_token` is in the batch."""
    prefilled: list[tuple[int, int]] = field(default_factory=list)
    """(key, n): the first n pending tokens of that generation are in the batch."""
    sample_rows: list[tuple[int, int]] = field(default_factory=list)
    """(key, row): sample that generation's next token from the logits of that batch row."""

    @property
    def prefill_tokens(self) -> int:
        return sum(n for _, n in self.prefilled)


def build_batch(generations: Sequence[GenerationView], n_batch: int) -> BatchPlan:
    """Decode tokens first (one per generation, so none waits behind a long prompt), then prefill
    chunks in the order given, up to `n_batch` tokens in all."""
    plan = BatchPlan()
    budget = n_batch
    for gen in generations:
        if gen.next_token is not None and not gen.pending and budget > 0:
            plan.sample_rows.append((gen.key, len(plan.entries)))
            plan.decoded.append(gen.key)
            plan.entries.append(
                BatchEntry(token=gen.next_token, pos=gen.cached_tokens, seq_id=gen.slot, wants_logits=True)
            )
            budget -= 1
    for gen in generations:
        if not gen.pending or budget <= 0:
            continue
        chunk = gen.pending[:budget]
        finishes = len(chunk) == len(gen.pending)
        for i, token in enumerate(chunk):
            wants = finishes and gen.sample_after_prefill and i == len(chunk) - 1
            if wants:
                plan.sample_rows.append((gen.key, len(plan.entries)))
            plan.entries.append(
                BatchEntry(token=token, pos=gen.cached_tokens + i, seq_id=gen.slot, wants_logits=wants)
            )
        plan.prefilled.append((gen.key, len(chunk)))
        budget -= len(chunk)
    return plan
