"""Building a decode batch: a pure function of the running generations."""

from __future__ import annotations

from collections.abc import Iterable

from aios.kernel.engines.batching import BatchEntry, GenerationView, build_batch


def gen(
    key: int,
    *,
    slot: int,
    cached: int,
    next_token: int | None = None,
    pending: Iterable[int] = (),
    refill: bool = False,
) -> GenerationView:
    return GenerationView(
        key=key,
        slot=slot,
        cached_tokens=cached,
        next_token=next_token,
        pending=list(pending),
        sample_after_prefill=not refill,
    )


def test_decode_tokens_go_first_then_prefill_chunks_within_the_batch_size() -> None:
    plan = build_batch(
        [
            gen(1, slot=0, cached=0, pending=range(100, 106)),
            gen(2, slot=1, cached=40, next_token=7),
            gen(3, slot=2, cached=9, next_token=8),
        ],
        n_batch=6,
    )
    assert plan.entries[:2] == [
        BatchEntry(token=7, pos=40, seq_id=1, wants_logits=True),
        BatchEntry(token=8, pos=9, seq_id=2, wants_logits=True),
    ]
    # four prompt tokens fit; the prompt is not finished, so no logits yet
    assert [(e.token, e.pos, e.wants_logits) for e in plan.entries[2:]] == [
        (100, 0, False),
        (101, 1, False),
        (102, 2, False),
        (103, 3, False),
    ]
    assert plan.decoded == [2, 3] and plan.prefilled == [(1, 4)] and plan.prefill_tokens == 4
    assert plan.sample_rows == [(2, 0), (3, 1)]


def test_the_last_prompt_token_is_sampled_unless_a_lost_cache_is_being_refilled() -> None:
    plan = build_batch(
        [
            gen(1, slot=0, cached=5, pending=[11, 12]),
            gen(2, slot=1, cached=0, next_token=99, pending=[21, 22], refill=True),
        ],
        n_batch=16,
    )
    assert plan.sample_rows == [(1, 1)]
    assert plan.decoded == []  # generation 2 decodes its token once the refill is done
    assert [e.wants_logits for e in plan.entries] == [False, True, False, False]


def test_an_empty_or_full_budget_builds_what_fits() -> None:
    assert build_batch([], n_batch=8).entries == []
    many = [gen(k, slot=k, cached=1, next_token=k) for k in range(5)]
    assert len(build_batch(many, n_batch=3).entries) == 3
