"""Test an agent offline: its `run(task, ctx)` against a scripted model and stubbed tools, no kernel.

    from aios.sdk.testing import ScriptedModel, run_agent, tool_call

    run = await run_agent(
        MyAgent,
        "How many files?",
        model=ScriptedModel([tool_call("shell.exec", cmd="ls | wc -l"), "There are 3."]),
        tools={"shell.exec": {"exit_code": 0, "stdout": "3\\n", "stderr": ""}},
    )
    assert run.result == "There are 3."
    assert run.tool_requests[0].arguments == {"cmd": "ls | wc -l"}

A call the script does not cover (one LLM call more than scripted, a tool with no stub) fails the test with
ScriptMismatch. For finer control, hand a `ScriptedTransport` to `aios.sdk.Context` yourself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from aios.kernel.syscalls import LLMSyscall, MemoryOp, MemorySyscall, ToolSpec, ToolSyscall
from aios.sdk._agent import Agent
from aios.sdk._context import Context
from aios.sdk._scripted_model import (
    Answer,
    ModelTurn,
    ScriptedCall,
    ScriptedModel,
    ScriptMismatch,
    Step,
    tool_call,
)
from aios.sdk._scripted_transport import ScriptedTransport, SyscallRecord

RUN_TIMEOUT_S = 30.0
"""How long `run_agent` lets an agent run before it fails the test (a script never makes an agent wait)."""


class AgentRun(BaseModel):
    """What an agent did under the kit: its answer and every syscall it made."""

    model_config = ConfigDict(frozen=True)

    result: str | None
    """What `run` returned."""
    syscalls: tuple[SyscallRecord, ...]

    @property
    def llm_requests(self) -> list[LLMSyscall]:
        """The LLM calls, as the model was asked them."""
        return [r.request for r in self.syscalls if isinstance(r.request, LLMSyscall)]

    @property
    def tool_requests(self) -> list[ToolSyscall]:
        """The tool calls, including those refused (see `syscalls` for how each ended)."""
        return [r.request for r in self.syscalls if isinstance(r.request, ToolSyscall)]

    @property
    def memory_requests(self) -> list[MemorySyscall]:
        return [r.request for r in self.syscalls if isinstance(r.request, MemorySyscall)]


async def run_agent(
    agent: Agent | type[Agent],
    task: str,
    *,
    model: ScriptedModel | None = None,
    tools: Mapping[str, Any] | None = None,
    specs: Iterable[ToolSpec] = (),
    memory: Mapping[MemoryOp, Any] | None = None,
    capabilities: Iterable[str] | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
    allow_unused_turns: bool = False,
) -> AgentRun:
    """Run `agent` on `task` under a `ScriptedTransport` (see it for `tools`, `specs` and `memory`).

    The process holds the manifest's capabilities unless `capabilities` narrows them, as when spawned.
    Fails with ScriptMismatch when the agent made a call the script did not cover (even if the agent caught
    it), left scripted model turns unused (unless `allow_unused_turns`), or ran past `timeout_s`. The agent's
    own exception, if it raised one, is raised as is.
    """
    instance = agent() if isinstance(agent, type) else agent
    granted = instance.manifest.capabilities if capabilities is None else capabilities
    transport = ScriptedTransport(model=model, tools=tools, specs=specs, memory=memory, capabilities=granted)
    try:
        async with asyncio.timeout(timeout_s):
            result = await instance.run(task, Context(transport))
    except TimeoutError:
        made = [f"{r.request.kind} {r.target}: {r.status}" for r in transport.syscalls[-5:]]
        raise ScriptMismatch(
            f"the agent did not finish within {timeout_s}s; its last syscalls: {made}"
        ) from None
    except Exception as e:
        if transport.failures and transport.failures[0] is not e:
            raise transport.failures[0] from e
        raise
    transport.check()
    if transport.model.num_unused and not allow_unused_turns:
        raise ScriptMismatch(
            f"the agent ended after {len(transport.model.requests)} LLM call(s), leaving "
            f"{transport.model.num_unused} of the model's {transport.model.num_scripted} turns unused"
        )
    return AgentRun(result=None if result is None else str(result), syscalls=tuple(transport.syscalls))


__all__ = [
    "AgentRun",
    "Answer",
    "ModelTurn",
    "ScriptMismatch",
    "ScriptedCall",
    "ScriptedModel",
    "ScriptedTransport",
    "Step",
    "SyscallRecord",
    "run_agent",
    "tool_call",
]
