"""The model side of the offline test kit: an agent's LLM calls answered from a script, turn by turn."""

from __future__ import annotations

import inspect
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.kernel.syscalls import FUNCTION_NAME_PATTERN, LLMResult, LLMSyscall, ToolCall, Usage
from aios.sdk._schema_check import schema_problems, schema_validator

CHARS_PER_TOKEN = 4
"""How the scripted model counts tokens for `usage`: roughly, as a tokenizer would for English."""
PREVIEW_CHARS = 120


class ScriptMismatch(AssertionError):
    """The agent did something its script does not cover (one LLM call too many, a tool with no stub), or
    the script answers in a way no model would (a tool the agent did not offer).

    An AssertionError, not an `aios.sdk` error: an agent that catches `AiosError` does not swallow it, and
    the test fails here instead of hanging or going on with a made-up answer.
    """


class ScriptedCall(BaseModel):
    """A tool call the scripted model makes; its id is given when the turn is played."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    """The tool, e.g. `shell.exec`: it must be among those the agent offered on that call."""
    arguments: dict[str, Any] = {}


def tool_call(name: str, /, **arguments: Any) -> ScriptedCall:
    """A model turn that calls one tool: `tool_call("shell.exec", cmd="ls")`."""
    return ScriptedCall(name=name, arguments=arguments)


class ModelTurn(BaseModel):
    """One answer of the scripted model: text, tool calls, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: str = ""
    calls: tuple[ScriptedCall, ...] = ()
    finish_reason: Literal["stop", "length", "tool_calls"] | None = None
    """None: `tool_calls` when the turn calls tools, else `stop`; `length` plays a reply cut short."""


Answer = str | ScriptedCall | ModelTurn | LLMResult
"""What a turn may be: text, one tool call, a whole turn, or a result exactly as an engine gives it."""
Step = Answer | Callable[[LLMSyscall], Answer | Awaitable[Answer]]
"""A turn, or a function of the agent's request that returns one (sync or async)."""


def _tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


def _preview(request: LLMSyscall) -> str:
    last = request.messages[-1]
    text = last.text or ", ".join(c.name for c in last.tool_calls)
    return f"{last.role}: {text[:PREVIEW_CHARS]!r}"


class ScriptedModel:
    """Answers LLM calls from `turns`, in order; one call more than scripted fails the test.

    Every turn is checked against what the agent asked for, as a real model would be held to it: a tool
    call only to a tool offered on that call and never under `tool_choice="none"`, a tool call whenever
    `tool_choice="required"`, and an answer valid under `response_schema`.
    """

    def __init__(self, turns: Iterable[Step] = (), *, model: str = "scripted") -> None:
        self.model = model
        self._turns: deque[Step] = deque(turns)
        self.num_scripted = len(self._turns)
        self.requests: list[LLMSyscall] = []
        """Every LLM call the agent made, as the kernel would have received it."""

    @property
    def num_unused(self) -> int:
        """Turns the agent never asked for."""
        return len(self._turns)

    async def respond(self, request: LLMSyscall) -> LLMResult:
        """The next turn as an engine's result; ScriptMismatch when none is left or it cannot be."""
        self.requests.append(request)
        number = len(self.requests)
        if not self._turns:
            raise ScriptMismatch(
                f"the agent made LLM call #{number}, but the model's script has {self.num_scripted} "
                f"turn(s); the call ends with {_preview(request)}"
            )
        step = self._turns.popleft()
        answer = step(request) if callable(step) else step
        if inspect.isawaitable(answer):
            answer = await answer
        result = self._result(answer, request, number)
        self._check(request, result, number)
        return result

    def _result(self, answer: Answer, request: LLMSyscall, number: int) -> LLMResult:
        if isinstance(answer, LLMResult):
            return answer
        if isinstance(answer, str):
            answer = ModelTurn(content=answer)
        elif isinstance(answer, ScriptedCall):
            answer = ModelTurn(calls=(answer,))
        calls = tuple(
            ToolCall(id=f"call_{number}_{i}", name=c.name, arguments=c.arguments)
            for i, c in enumerate(answer.calls)
        )
        reason = answer.finish_reason or ("tool_calls" if calls else "stop")
        said = answer.content + "".join(c.name + json.dumps(c.arguments) for c in calls)
        prompt = _tokens("".join(m.text for m in request.messages))
        usage = Usage(prompt_tokens=prompt, completion_tokens=_tokens(said), prefilled_tokens=prompt)
        return LLMResult(
            content=answer.content, tool_calls=calls, finish_reason=reason, usage=usage, model=self.model
        )

    def _check(self, request: LLMSyscall, result: LLMResult, number: int) -> None:
        turn = f"turn #{number} of the model's script"
        names = [c.name for c in result.tool_calls]
        offered = [t.name for t in request.choosable_tools()]
        if names and request.tool_choice == "none":
            raise ScriptMismatch(
                f"{turn} calls {names}, but the agent asked for no tool call (tool_choice='none')"
            )
        if unoffered := [n for n in names if n not in offered]:
            raise ScriptMismatch(
                f"{turn} calls {unoffered}, but the agent offered only {offered} on that call"
            )
        if not names and request.tool_choice == "required" and offered:
            raise ScriptMismatch(
                f"{turn} answers in text, but the agent required a tool call (tool_choice='required')"
            )
        if request.response_schema is not None and not names:
            self._check_structured(request.response_schema, result.content, turn)

    @staticmethod
    def _check_structured(schema: dict[str, Any], content: str, turn: str) -> None:
        try:
            answer = json.loads(content)
        except ValueError:
            raise ScriptMismatch(f"{turn} is not JSON, but the agent asked for a response_schema") from None
        problems = schema_problems(schema_validator(schema, what="the response_schema"), answer)
        if problems:
            raise ScriptMismatch(f"{turn} breaks the agent's response_schema: {problems}")
