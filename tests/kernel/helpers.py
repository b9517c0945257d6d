"""Driving the real local engine directly in tests: prepare, then run (as the kernel's dispatcher does)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from aios.kernel.engines.interface import Engine, PreparedCall, Yielded
from aios.kernel.engines.local import LocalEngine
from aios.kernel.engines.prefix_sharing import RETAIN_S
from aios.kernel.syscalls import LLMResult, LLMSyscall


async def generate(engine: Engine, request: LLMSyscall, *, owner: int) -> LLMResult:
    """One whole completion, no token budget."""
    prepared = await engine.prepare(request, owner=owner, program_arrival=0.0)
    result = await engine.run(prepared)
    assert isinstance(result, LLMResult)
    return result


async def generate_in_slices(
    engine: Engine, request: LLMSyscall, *, owner: int, slice_tokens: int
) -> tuple[LLMResult, int]:
    """A completion run `slice_tokens` at a time; returns it and how many times it yielded."""
    prepared: PreparedCall = await engine.prepare(request, owner=owner, program_arrival=0.0)
    yields = 0
    while isinstance(outcome := await engine.run(prepared, budget_tokens=slice_tokens), Yielded):
        yields += 1
    return outcome, yields


@contextlib.contextmanager
def prefixes_unshared(engine: LocalEngine) -> Iterator[None]:
    """Within the block calls share no prefixes and ended processes leave nothing, and what ended
    processes left before is dropped: tests comparing the greedy outputs of two calls outside deterministic
    mode need both to start from the same cache state (another sequence's cells change the arithmetic)."""
    before = engine.kv.share

    def unshare() -> None:
        engine.kv.share = "none"
        engine.kv.expire(time.monotonic() + RETAIN_S)

    engine.call_on_engine_thread(unshare)
    try:
        yield
    finally:
        engine.call_on_engine_thread(lambda: setattr(engine.kv, "share", before))
