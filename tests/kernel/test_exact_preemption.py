"""An exact context switch: with greedy sampling, output with preemptions is token for token the output
without, at every concurrency, in the deterministic engine mode.

The scenario the redesign was checked against: 4 processes, each two greedy calls (96, then 48 tokens, past
end-of-text), fifo against round_robin with 4-token slices on a one-slot engine (136 preemptions), and with
1-token slices on a two-slot engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from aios.boot import boot
from aios.config import Settings
from aios.kernel.engines.interface import Yielded
from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, Sampling

from .helpers import generate, generate_in_slices

pytestmark = pytest.mark.model

TOPICS = ("rivers", "mountains", "cities", "forests")


def _call(messages: list[Message], tokens: int) -> LLMSyscall:
    return LLMSyscall(messages=tuple(messages), max_tokens=tokens, sampling=Sampling(ignore_eos=True))


async def _scenario(
    settings: Settings, tmp_path: Path, engine: LocalEngine, policy: str, slice_tokens: int
) -> tuple[list[str], int]:
    """Every process's two answers under `policy`, and how many preemptions the scheduler made."""
    kernel = await boot(
        settings.model_copy(update={"policy": policy, "slice_tokens": slice_tokens}), cwd=tmp_path
    )
    kernel.engines.register("local", engine)

    def program_for(topic: str) -> Callable[[int], Awaitable[str]]:
        async def program(pid: int) -> str:
            messages = [Message(role="user", content=f"Tell me about {topic}.")]
            first = await kernel.syscall(pid, _call(messages, 96))
            assert isinstance(first, LLMResult) and first.usage.completion_tokens == 96
            messages += [
                Message(role="assistant", content=first.content),
                Message(role="user", content="Go on."),
            ]
            second = await kernel.syscall(pid, _call(messages, 48))
            assert isinstance(second, LLMResult) and second.usage.completion_tokens == 48
            return f"{first.content}\n--\n{second.content}"

        return program

    try:
        pids = [
            await kernel.spawn(program_for(topic), agent="story", task=topic, capabilities=["llm"])
            for topic in TOPICS
        ]
        records = [await kernel.wait(pid) for pid in pids]
        assert all(r.state == "done" for r in records), [r.error for r in records]
        return [r.result or "" for r in records], kernel.dispatcher.preemptions
    finally:
        await kernel.shutdown(close_engines=False)


def _engine(calibration_file: Path, max_concurrency: int) -> LocalEngine:
    return LocalEngine(
        LocalEngineConfig(
            n_ctx=4 * 1024,
            n_seq_max=4,
            max_concurrency=max_concurrency,
            deterministic=True,
            calibration_file=str(calibration_file),
        )
    )


@pytest.mark.parametrize(("max_concurrency", "slice_tokens"), [(1, 4), (2, 1)])
async def test_round_robin_preemptions_change_no_token(
    settings: Settings, tmp_path: Path, calibration_file: Path, max_concurrency: int, slice_tokens: int
) -> None:
    engine = _engine(calibration_file, max_concurrency)
    try:
        plain, none = await _scenario(settings, tmp_path / "fifo", engine, "fifo", 32)
        sliced, preemptions = await _scenario(settings, tmp_path / "rr", engine, "round_robin", slice_tokens)
    finally:
        await engine.close()
    assert none == 0
    assert preemptions >= 100
    assert sliced == plain


async def test_greedy_output_does_not_depend_on_what_else_is_batched(calibration_file: Path) -> None:
    engine = _engine(calibration_file, 4)
    requests = [_call([Message(role="user", content=f"Tell me about {t}.")], 64) for t in TOPICS]
    try:
        alone = [(await generate(engine, r, owner=3000 + i)).content for i, r in enumerate(requests)]
        for i in range(len(requests)):
            await engine.release(3000 + i)
        together = await asyncio.gather(
            *(generate(engine, r, owner=3100 + i) for i, r in enumerate(requests))
        )
        sliced, yields = await generate_in_slices(engine, requests[0], owner=3200, slice_tokens=5)
    finally:
        await engine.close()
    assert engine.stats.max_sequences_in_one_decode >= 2
    assert [r.content for r in together] == alone
    assert yields == 12 and sliced.content == alone[0]


async def test_a_paused_generation_whose_cache_was_lost_is_recomputed_exactly(calibration_file: Path) -> None:
    """No host memory to swap to: a paused generation's cache is dropped for others, then rebuilt."""
    engine = LocalEngine(
        LocalEngineConfig(
            n_ctx=2 * 1024,
            n_seq_max=2,
            max_concurrency=2,
            swap_budget_mb=0,
            deterministic=True,
            calibration_file=str(calibration_file),
        )
    )
    story = _call([Message(role="user", content=f"Tell me about {TOPICS[0]}.")], 48)
    try:
        plain = (await generate(engine, story, owner=4000)).content
        await engine.release(4000)
        paused = await engine.prepare(story, owner=4001, program_arrival=0.0)
        assert isinstance(await engine.run(paused, budget_tokens=20), Yielded)
        # two others take both sequence slots: the paused one's cache has nowhere to go
        await asyncio.gather(
            *(
                generate(engine, _call([Message(role="user", content=t)], 8), owner=4100 + i)
                for i, t in enumerate("ab")
            )
        )
        assert engine.kv.stats.evictions >= 1
        resumed = await engine.run(paused)
    finally:
        await engine.close()
    assert isinstance(resumed, LLMResult) and resumed.content == plain
