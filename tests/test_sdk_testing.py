"""The offline test kit (`aios.sdk.testing`): the shipped agents run on a scripted model and stubbed tools,
and whatever the script does not cover fails the test at once, with what happened."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from aios.agents.chat import ChatAgent
from aios.agents.react import ReactAgent
from aios.kernel.memory_port import MemoryItem
from aios.sdk import Agent, AiosError, Context, Manifest, PermissionDenied, ToolError, ToolSpec
from aios.sdk.testing import ModelTurn, ScriptedModel, ScriptMismatch, run_agent, tool_call
from aios.tools import ShellDriver

SHELL_EXEC = ToolSpec(
    name="shell.exec",
    description="Run a shell command.",
    parameters=ShellDriver().operations()["exec"].json_schema(),
)
"""The real driver's description: its schema (a `cmd` of 1 to 8000 characters) is what the kit checks."""


def shell(stdout: str, exit_code: int = 0) -> dict[str, Any]:
    return {"exit_code": exit_code, "stdout": stdout, "stderr": ""}


def test_the_kit_surface_is_pinned() -> None:
    import aios.sdk.testing

    assert aios.sdk.testing.__all__ == sorted(aios.sdk.testing.__all__)
    assert set(aios.sdk.testing.__all__) == {
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
    }


async def test_react_calls_the_stubbed_tool_with_the_models_arguments_and_answers() -> None:
    commands: list[str] = []

    def exec_stub(cmd: str) -> dict[str, Any]:
        commands.append(cmd)
        return shell("2\n")

    run = await run_agent(
        ReactAgent,
        "How many Python files are here?",
        model=ScriptedModel([tool_call("shell.exec", cmd="ls *.py | wc -l"), "There are 2 Python files."]),
        tools={"shell.exec": exec_stub},
        specs=[SHELL_EXEC],
    )
    assert run.result == "There are 2 Python files."
    assert commands == ["ls *.py | wc -l"]
    assert [(r.request.kind, r.target, r.status) for r in run.syscalls] == [
        ("llm", "llm", "ok"),
        ("tool", "shell.exec", "ok"),
        ("llm", "llm", "ok"),
    ]
    first, second = run.llm_requests
    assert first.tool_choice == "required" and [t.name for t in first.tools] == ["shell.exec"]
    observation = second.messages[-1]
    assert observation.role == "tool" and observation.tool_call_id == second.messages[-2].tool_calls[0].id
    assert observation.content == "exit_code: 0\nstdout:\n2\n"


async def test_one_llm_call_more_than_scripted_fails_with_what_the_agent_asked() -> None:
    with pytest.raises(
        ScriptMismatch, match=r"LLM call #2, but the model's script has 1 turn\(s\)"
    ) as caught:
        await run_agent(
            ReactAgent,
            "List the files.",
            model=ScriptedModel([tool_call("shell.exec", cmd="ls")]),
            tools={"shell.exec": shell("a.py\n")},
        )
    assert "tool: 'exit_code: 0" in str(caught.value)  # the call's last message: the tool's observation


class Swallower(Agent):
    """An agent that catches everything: the kit's failure must survive it."""

    manifest = Manifest(name="swallower", capabilities=("llm",))

    async def run(self, task: str, ctx: Context) -> str:
        answers = []
        for _ in range(3):
            try:
                answers.append((await ctx.llm(task)).content)
            except Exception:
                answers.append("(failed)")
        return ", ".join(answers)


async def test_a_mismatch_the_agent_swallowed_still_fails_the_run() -> None:
    with pytest.raises(ScriptMismatch, match=r"LLM call #2"):
        await run_agent(Swallower, "hi", model=ScriptedModel(["hello"]))


async def test_arguments_that_break_the_tools_schema_reach_the_agent_as_invalid_syscall() -> None:
    calls: list[dict[str, Any]] = []
    run = await run_agent(
        ReactAgent,
        "List the files.",
        model=ScriptedModel([tool_call("shell.exec", command="ls"), "I could not run it."]),
        tools={"shell.exec": lambda **arguments: calls.append(arguments)},
        specs=[SHELL_EXEC],
    )
    assert calls == [], "the stub never ran"
    [refused] = [r for r in run.syscalls if r.target == "shell.exec"]
    assert refused.status == "error"
    problem = "bad arguments for shell.exec: (root): 'cmd' is a required property"
    assert refused.error == f"InvalidSyscall: {problem} (pid 1, syscall s2)"
    assert run.llm_requests[1].messages[-1].content.startswith(f"error: {problem}")
    assert run.result == "I could not run it."


async def test_chat_answers_with_memory_only_when_granted_it() -> None:
    with_memory = await run_agent(ChatAgent, "Hi!", model=ScriptedModel(["Hello!"]))
    narrowed = await run_agent(ChatAgent, "Hi!", model=ScriptedModel(["Hello!"]), capabilities=["llm"])
    assert with_memory.result == narrowed.result == "Hello!"
    assert [r.memory for r in with_memory.llm_requests] == [True]
    assert [r.memory for r in narrowed.llm_requests] == [False]


@pytest.mark.parametrize(
    ("turns", "problem"),
    [
        (["I refuse to act."], r"answers in text, but the agent required a tool call"),
        (
            [tool_call("browser.open", url="http://x")],
            r"calls \['browser.open'\], but the agent offered only",
        ),
    ],
)
async def test_a_turn_no_model_would_give_is_the_scripts_mistake(turns: list[Any], problem: str) -> None:
    with pytest.raises(ScriptMismatch, match=problem):
        await run_agent(ReactAgent, "Do it.", model=ScriptedModel(turns), tools={"shell.exec": shell("")})


class Prober(Agent):
    """Calls what the test says, and reports each outcome."""

    manifest = Manifest(name="prober", capabilities=("llm", "shell.exec", "files.*"))

    async def run(self, task: str, ctx: Context) -> str:
        outcomes = []
        for name in task.split():
            try:
                outcomes.append(repr(await ctx.tool(name, path="/tmp")))
            except AiosError as e:
                outcomes.append(type(e).__name__)
        return " ".join(outcomes)


async def test_a_tool_the_process_lacks_is_denied_and_a_failing_stub_raises_its_error() -> None:
    run = await run_agent(
        Prober,
        "browser.open files.read files.stat",
        tools={"files.read": ToolError("disk on fire"), "files.stat": {"sizes": (1, 2)}},
    )
    assert run.result == "PermissionDenied ToolError {'sizes': [1, 2]}"  # outputs cross as JSON
    assert [r.status for r in run.syscalls] == ["denied", "error", "ok"]


async def test_a_granted_tool_without_a_stub_fails_the_run() -> None:
    with pytest.raises(
        ScriptMismatch, match=r"tool 'files.list' with \{'path': '/tmp'\}, but the test stubs"
    ):
        await run_agent(Prober, "files.list", tools={"files.read": "x"})


class Notetaker(Agent):
    manifest = Manifest(name="notetaker", capabilities=("llm", "memory.own"))

    async def run(self, task: str, ctx: Context) -> str:
        item = await ctx.memory.remember(task, tags=["todo"])
        return f"{item.id}: {item.text}"


async def test_memory_calls_are_served_by_stubs_and_denied_without_memory_own() -> None:
    def remember(text: str, **options: Any) -> MemoryItem:
        now = time.time()
        return MemoryItem(
            id=7, user="u", agent="notetaker", tier="long", kind="fact", text=text, tags=options["tags"],
            created_at=now, updated_at=now, accessed_at=now,
        )  # fmt: skip

    run = await run_agent(Notetaker, "buy milk", memory={"remember": remember})
    assert run.result == "7: buy milk"
    assert run.memory_requests[0].arguments == {"text": "buy milk", "kind": "fact", "tags": ["todo"]}
    with pytest.raises(PermissionDenied, match=r"'memory\.own' not granted"):
        await run_agent(Notetaker, "buy milk", memory={"remember": remember}, capabilities=["llm"])


async def test_unused_turns_fail_unless_allowed_and_a_stuck_agent_times_out() -> None:
    script = ["Hello!", "Never asked for."]
    with pytest.raises(ScriptMismatch, match=r"leaving 1 of the model's 2 turns unused"):
        await run_agent(ChatAgent, "Hi", model=ScriptedModel(script))
    run = await run_agent(ChatAgent, "Hi", model=ScriptedModel(script), allow_unused_turns=True)
    assert run.result == "Hello!"

    class Stuck(Agent):
        manifest = Manifest(name="stuck")

        async def run(self, task: str, ctx: Context) -> str:
            await ctx.noop()
            await asyncio.Event().wait()
            return "never"

    with pytest.raises(
        ScriptMismatch, match=r"did not finish within 0.05s; its last syscalls: \['noop noop: ok'\]"
    ):
        await run_agent(Stuck, "wait", timeout_s=0.05)


async def test_a_turn_can_depend_on_the_request_and_structured_answers_follow_their_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    class Counter(Agent):
        manifest = Manifest(name="counter")

        async def run(self, task: str, ctx: Context) -> str:
            return (await ctx.llm(task, response_schema=schema)).content

    def count_words(request: Any) -> ModelTurn:
        return ModelTurn(content=f'{{"n": {len(request.messages[-1].content.split())}}}')

    assert (
        await run_agent(Counter, "one two three", model=ScriptedModel([count_words]))
    ).result == '{"n": 3}'
    with pytest.raises(
        ScriptMismatch, match=r"breaks the agent's response_schema: n: 'three' is not of type"
    ):
        await run_agent(Counter, "x", model=ScriptedModel(['{"n": "three"}']))
