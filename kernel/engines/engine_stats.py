"""What the local engine's decode loop counts (tests and benchmarks read it)."""

from __future__ import annotations

from pydantic import BaseModel

from aios.kernel.engines.batching import BatchEntry


class EngineStats(BaseModel):
    """Counters the tests and benchmarks read."""

    decode_calls: int = 0
    tokens_decoded: int = 0
    max_sequences_in_one_decode: int = 0
    multi_sequence_decodes: int = 0
    """`llama_decode` calls that carried tokens of more than one sequence."""
    yields: int = 0
    """Generations paused because their token budget ran out."""
    prefix_waits: int = 0
    """Calls that waited for another call's prefill of their prompt's prefix instead of repeating it."""

    def count(self, entries: list[BatchEntry]) -> None:
        """One `llama_decode` of these tokens ran."""
        seqs = len({e.seq_id for e in entries})
        self.decode_calls += 1
        self.tokens_decoded += len(entries)
        self.max_sequences_in_one_decode = max(self.max_sequences_in_one_decode, seqs)
        if seqs > 1:
            self.multi_sequence_decodes += 1
