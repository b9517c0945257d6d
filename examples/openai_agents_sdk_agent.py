"""An OpenAI Agents SDK agent run on the aios daemon, unchanged but for where it points.

The model answers through the daemon's OpenAI-compatible endpoint (scheduled with every other agent, its KV
cache kept across its tool calls); `percent` is a function tool of the agent's own; `shell__exec` is the
kernel's sandboxed shell, reached as an MCP tool through `/mcp/react` (the react agent's capabilities, the
kernel's approvals and audit log).

    aios serve &
    export AIOS_URL=http://127.0.0.1:8765 AIOS_TOKEN=$(aios token create --user "$USER" | tail -1)
    python examples/openai_agents_sdk_agent.py "What share of the files here are Python files?"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import uuid

from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    RunConfig,
    RunErrorHandlerResult,
    Runner,
    ToolCallItem,
    ToolCallOutputItem,
    function_tool,
    set_tracing_disabled,
)
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI
from openai.types.responses import ResponseFunctionToolCall

INSTRUCTIONS = (
    "You help with files. Run shell commands with shell__exec; compute a share in percent with percent. "
    "Answer in one short sentence."
)


@function_tool
def percent(part: int, whole: int) -> float:
    """What share of `whole` `part` is, in percent (rounded to one decimal)."""
    return round(100 * part / whole, 1) if whole else 0.0


async def run(
    task: str, *, url: str, token: str, model: str, tool_choice: str | None, max_turns: int
) -> tuple[list[str], str]:
    """Run the agent once; returns the steps it took (each tool call and its output) and its final answer."""
    # one conversation = one kernel program: its calls keep their KV cache between turns
    conversation = {"X-AIOS-Program": f"agents-sdk-{uuid.uuid4().hex[:12]}"}
    client = AsyncOpenAI(base_url=f"{url}/v1", api_key=token, default_headers=conversation)
    kernel_tools = MCPServerStreamableHttp(
        params={"url": f"{url}/mcp/react", "headers": {"Authorization": f"Bearer {token}"}},
        name="aios",
        cache_tools_list=True,
        client_session_timeout_seconds=120,
    )
    async with kernel_tools:
        agent = Agent(
            name="files",
            instructions=INSTRUCTIONS,
            model=OpenAIChatCompletionsModel(model=model, openai_client=client),
            model_settings=ModelSettings(tool_choice=tool_choice, max_tokens=256, temperature=0.0),
            tools=[percent],
            mcp_servers=[kernel_tools],
        )
        result = await Runner.run(
            agent,
            task,
            max_turns=max_turns,
            run_config=RunConfig(workflow_name="aios example"),
            # a small model may keep calling tools: end with what it has rather than an exception
            error_handlers={
                "max_turns": lambda _: RunErrorHandlerResult(f"(no answer in {max_turns} turns)")
            },
        )
        steps = []
        for item in result.new_items:
            if isinstance(item, ToolCallItem) and isinstance(item.raw_item, ResponseFunctionToolCall):
                steps.append(f"call {item.raw_item.name} {item.raw_item.arguments}")
            elif isinstance(item, ToolCallOutputItem):
                steps.append(f"output {json.dumps(item.output, default=str)}")
        return steps, str(result.final_output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task")
    parser.add_argument("--url", default=os.environ.get("AIOS_URL", "http://127.0.0.1:8765"))
    parser.add_argument("--token", default=os.environ.get("AIOS_TOKEN", ""))
    parser.add_argument("--model", default="local", help="a model of `GET /v1/models`, or a litellm string")
    parser.add_argument("--tool-choice", help="auto, required, none, or a tool's name for the first turn")
    parser.add_argument("--max-turns", type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    set_tracing_disabled(True)  # the SDK would otherwise send traces to OpenAI's servers
    steps, answer = asyncio.run(
        run(
            args.task,
            url=args.url,
            token=args.token,
            model=args.model,
            tool_choice=args.tool_choice,
            max_turns=args.max_turns,
        )
    )
    for step in steps:
        print(step)
    print(f"answer {answer}")


if __name__ == "__main__":
    main()
