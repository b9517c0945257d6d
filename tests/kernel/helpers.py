"""Driving the real local engine directly in tests: prepare, then run (as the kernel's dispatcher does)."""

from __future__ import annotations

from aios.kernel.engines.interface import Engine, PreparedCall, Yielded
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
