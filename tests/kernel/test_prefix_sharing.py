"""Prompt prefixes shared across processes: cell accounting, scopes, retained caches, the real engine.

Engine tests assert mechanics (tokens reused, tokens equal with and without a copied prefix), never what
the model says.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aios.kernel.engines.cell_runs import CellRuns, distinct_cells
from aios.kernel.engines.configs import PrefixSharing
from aios.kernel.engines.interface import PreparedCall
from aios.kernel.engines.kv_cache import KVCache, KVState
from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.engines.prefix_sharing import RETAIN_S
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling

from .test_kv_cache import FakeBackend


class CopyingBackend(FakeBackend):
    """The fake backend, recording prefix copies."""

    def __init__(self, n_ctx: int = 1000, n_seq_max: int = 4) -> None:
        super().__init__(n_ctx, n_seq_max)
        self.copies: list[tuple[int, int, int]] = []

    def seq_copy(self, src: int, dst: int, end: int) -> None:
        self.copies.append((src, dst, end))


def hold(cache: KVCache, owner: int, tokens: list[int], *, scope: str | None, now: float = 0.0) -> None:
    """Give `owner` an idle sequence holding `tokens`, as a finished call leaves it."""
    seq = cache.acquire(owner, arrival=0.0, now=now)
    assert seq is not None
    seq.scope, seq.tokens, seq.prompt_tokens = scope, list(tokens), len(tokens)
    cache.finish(seq, now)


def start(cache: KVCache, owner: int, prompt: list[int], *, scope: str | None) -> int:
    """Begin a call as the decode loop does: acquire, then copy the best prefix; tokens it holds."""
    seq = cache.acquire(owner, arrival=0.0, now=1.0)
    assert seq is not None
    seq.scope = scope
    return cache.share_prefix(seq, prompt, min_gain=16)


# ---- cell accounting ---------------------------------------------------------------------------------


def test_cells_shared_by_a_copy_count_once_until_either_side_rewrites_them() -> None:
    donor, taker = CellRuns(), CellRuns()
    taker.inherit(donor, 100, 60)
    assert distinct_cells([(donor, 100), (taker, 80)]) == 100 + 20
    taker.trim(30, 80)  # its positions 30.. are written again into new cells
    assert distinct_cells([(donor, 100), (taker, 50)]) == 100 + 20
    donor.reset()  # the donor's cells go; the 30 the taker still holds stay
    assert distinct_cells([(donor, 0), (taker, 50)]) == 50


def test_a_prefix_copied_twice_is_still_one_set_of_cells() -> None:
    first, second, third = CellRuns(), CellRuns(), CellRuns()
    second.inherit(first, 50, 40)
    third.inherit(second, 45, 45)  # 40 of the first's cells, 5 of the second's own
    assert distinct_cells([(first, 50), (second, 45), (third, 45)]) == 50 + 5


# ---- the cache ---------------------------------------------------------------------------------------

PROMPT = list(range(1, 201))


@pytest.mark.parametrize(
    ("mode", "scope", "copied"),
    [("user", "alice", 150), ("user", "bob", 0), ("all", "bob", 150), ("none", "alice", 0)],
)
def test_who_may_start_from_whose_prefix(mode: PrefixSharing, scope: str, copied: int) -> None:
    backend = CopyingBackend()
    cache = KVCache(backend, swap_budget_bytes=0, share=mode)
    hold(cache, 1, [*PROMPT[:150], 999, 998], scope="alice")
    assert start(cache, 2, PROMPT, scope=scope) == copied
    assert len(backend.copies) == (1 if copied else 0)
    assert cache.stats.prefix_tokens_copied == copied


def test_a_call_copies_only_what_it_gains_and_never_its_last_token() -> None:
    cache = KVCache(CopyingBackend(), swap_budget_bytes=0, share="user")
    hold(cache, 1, PROMPT, scope="alice")
    assert start(cache, 2, PROMPT, scope="alice") == len(PROMPT) - 1  # its logits are needed
    hold(cache, 3, PROMPT[:10], scope="alice")
    assert start(cache, 4, [*PROMPT[:10], 7, 7], scope="alice") == 0  # 10 tokens: not worth a copy


def test_image_placeholders_end_a_shared_prefix() -> None:
    cache = KVCache(CopyingBackend(), swap_budget_bytes=0, share="user")
    with_image = [*PROMPT[:40], -5, -5, *PROMPT[40:]]
    hold(cache, 1, with_image, scope="alice")
    assert start(cache, 2, with_image, scope="alice") == 40


def test_shared_cells_count_once_in_the_cache_and_in_its_rows() -> None:
    cache = KVCache(CopyingBackend(), swap_budget_bytes=0, share="user")
    hold(cache, 1, PROMPT, scope="alice")
    assert start(cache, 2, [*PROMPT[:150], 5, 6], scope="alice") == 150
    assert cache.used_cells == 200
    assert sum(e.cells for e in cache.entries(1.0)) == 200


def test_an_ended_process_leaves_its_prefix_and_is_the_first_to_go() -> None:
    backend = CopyingBackend(n_ctx=1000, n_seq_max=2)
    cache = KVCache(backend, swap_budget_bytes=0, share="user")
    hold(cache, 1, PROMPT, scope="alice")
    hold(cache, 2, PROMPT[:50], scope="alice", now=5.0)
    cache.release(1, now=6.0)
    assert {e.owner: e.state for e in cache.entries(6.0)} == {1: KVState.RETAINED, 2: KVState.CACHED}
    # a third sequence needs a slot: the ended process's goes before a live one's
    assert start(cache, 3, PROMPT, scope="alice") == 50
    assert {e.owner for e in cache.entries(7.0)} == {2, 3}


def test_an_ended_process_keeps_only_its_prompt_and_only_for_a_while() -> None:
    cache = KVCache(CopyingBackend(), swap_budget_bytes=0, share="user")
    hold(cache, 1, PROMPT, scope="alice")
    seq = cache.find(1)
    assert seq is not None
    seq.prompt_tokens = 150  # the last 50 tokens are its reply
    cache.release(1, now=10.0)
    assert [(e.state, e.tokens) for e in cache.entries(10.0)] == [(KVState.RETAINED, 150)]
    cache.expire(10.0 + RETAIN_S - 1)
    assert len(cache.entries(0.0)) == 1
    cache.expire(10.0 + RETAIN_S)
    assert cache.entries(0.0) == []


def test_without_sharing_an_ended_process_keeps_nothing() -> None:
    cache = KVCache(CopyingBackend(), swap_budget_bytes=0, share="none")
    hold(cache, 1, PROMPT, scope="alice")
    cache.release(1, now=1.0)
    assert cache.entries(1.0) == []


# ---- the real engine ---------------------------------------------------------------------------------

SYSTEM = "You are a careful operations agent. " + " ".join(
    f"Tool {i}: tool_{i}(path: str) reads the file at path and returns its first {i} lines."
    for i in range(24)
)


def call(question: str, *, tokens: int = 8) -> LLMSyscall:
    return LLMSyscall(
        messages=(Message(role="system", content=SYSTEM), Message(role="user", content=question)),
        max_tokens=tokens,
        sampling=Sampling(ignore_eos=True),
    )


async def run(engine: LocalEngine, request: LLMSyscall, *, owner: int, scope: str) -> LLMResult:
    prepared: PreparedCall = await engine.prepare(request, owner=owner, program_arrival=0.0, scope=scope)
    result = await engine.run(prepared)
    assert isinstance(result, LLMResult)
    return result


@pytest.mark.model
async def test_a_new_process_starts_from_the_prompt_an_ended_one_had(local_engine: LocalEngine) -> None:
    first = await run(local_engine, call("List the tools."), owner=3101, scope="team-a")
    assert first.usage.reused_tokens < 20  # nothing of this system prompt was cached before
    await local_engine.release(3101)
    second = await run(local_engine, call("Which tool reads a file?"), owner=3102, scope="team-a")
    assert second.usage.reused_tokens > first.usage.prompt_tokens - 20
    assert second.usage.prefilled_tokens < 30
    await local_engine.release(3102)


@pytest.mark.model
async def test_another_user_cannot_time_whether_a_prompt_is_cached(local_engine: LocalEngine) -> None:
    """The attack: a stranger sends the prompt they guess another user runs and watches how much of it
    comes from cache. Across users nothing does, so the time to a first token tells them nothing."""
    await run(local_engine, call("List the tools."), owner=3111, scope="victim")
    guess = await run(local_engine, call("List the tools."), owner=3112, scope="stranger")
    assert guess.usage.reused_tokens == 0
    await local_engine.release(3111)
    await local_engine.release(3112)


@pytest.mark.model
async def test_calls_started_together_prefill_their_shared_prompt_once(local_engine: LocalEngine) -> None:
    waits = local_engine.stats.prefix_waits
    results = await asyncio.gather(
        *(
            run(local_engine, call(f"Question {i}: which tool?"), owner=3120 + i, scope="team-c")
            for i in range(4)
        )
    )
    prompt = results[0].usage.prompt_tokens
    assert sum(r.usage.prefilled_tokens for r in results) < prompt + 3 * 40
    assert local_engine.stats.prefix_waits >= waits + 3
    for i in range(4):
        await local_engine.release(3120 + i)


@pytest.mark.model
async def test_a_copied_prefix_changes_no_token_in_deterministic_mode(calibration_file: Path) -> None:
    engine = LocalEngine(
        LocalEngineConfig(n_ctx=4096, n_seq_max=2, deterministic=True, calibration_file=str(calibration_file))
    )
    try:
        await run(engine, call("List the tools.", tokens=4), owner=1, scope="a")
        question = call("Which tool reads the first 7 lines?", tokens=32)
        shared = await run(engine, question, owner=2, scope="a")
        private = await run(engine, question, owner=3, scope="b")
    finally:
        await engine.close()
    assert shared.usage.reused_tokens > 300 and private.usage.reused_tokens == 0
    assert shared.content == private.content
