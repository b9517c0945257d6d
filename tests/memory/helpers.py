"""Scripted model outputs for the pager's tests (the real model is tested separately)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from aios.kernel.syscalls import LLMResult, LLMSyscall, Usage

Output = str | dict[str, object]


class ScriptedLLM:
    """Plays back model outputs (what the pager's tolerant JSON handling must survive).

    A list is played in order; a dict answers the first prompt containing each key (calls run concurrently).
    """

    def __init__(self, outputs: Iterable[Output] | dict[str, Output]) -> None:
        self.by_prompt = {k: _text(v) for k, v in outputs.items()} if isinstance(outputs, dict) else {}
        self.outputs = [] if isinstance(outputs, dict) else [_text(o) for o in outputs]
        self.requests: list[LLMSyscall] = []

    async def __call__(self, request: LLMSyscall) -> LLMResult:
        self.requests.append(request)
        prompt = request.messages[-1].content
        key = next((k for k in self.by_prompt if k in prompt), None)
        if key is not None:
            content = self.by_prompt.pop(key)
        elif self.outputs:
            content = self.outputs.pop(0)
        else:
            raise AssertionError(f"unexpected LLM call: {prompt[:80]!r}")
        return LLMResult(
            content=content, finish_reason="stop", usage=Usage(completion_tokens=1), model="script"
        )


def _text(output: Output) -> str:
    return output if isinstance(output, str) else json.dumps(output)
