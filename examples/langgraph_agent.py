"""A LangGraph agent run on the aios daemon, unchanged but for where it points.

A model node and a tool node in a loop: the model answers through the daemon's OpenAI-compatible endpoint
(scheduled with every other agent, its KV cache kept across its tool calls); `percent` is a tool of the
agent's own; `shell__exec` is the kernel's sandboxed shell, loaded as an MCP tool from `/mcp/react` (the react
agent's capabilities, the kernel's approvals and audit log).

    aios serve &
    export AIOS_URL=http://127.0.0.1:8765 AIOS_TOKEN=$(aios token create --user "$USER" | tail -1)
    python examples/langgraph_agent.py "What share of the files here are Python files?"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import uuid
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

INSTRUCTIONS = (
    "You help with files. Run shell commands with shell__exec; compute a share in percent with percent. "
    "Answer in one short sentence."
)


@tool
def percent(part: int, whole: int) -> float:
    """What share of `whole` `part` is, in percent (rounded to one decimal)."""
    return round(100 * part / whole, 1) if whole else 0.0


async def run(
    task: str, *, url: str, token: str, model: str, tool_choice: str | None, max_tool_rounds: int
) -> tuple[list[str], str]:
    """Run the agent once; returns the steps it took (each tool call and its output) and its final answer."""
    kernel = MultiServerMCPClient(
        {
            "aios": {
                "transport": "streamable_http",
                "url": f"{url}/mcp/react",
                "headers": {"Authorization": f"Bearer {token}"},
            }
        }
    )
    tools = [percent, *await kernel.get_tools()]
    llm = ChatOpenAI(
        model=model,
        base_url=f"{url}/v1",
        api_key=token,
        temperature=0.0,
        max_completion_tokens=256,
        # one conversation = one kernel program: its calls keep their KV cache between turns
        default_headers={"X-AIOS-Program": f"langgraph-{uuid.uuid4().hex[:12]}"},
    )
    first_turn = llm.bind_tools(tools, tool_choice=tool_choice) if tool_choice else llm.bind_tools(tools)
    later_turns = llm.bind_tools(tools)
    last_turn = llm.bind_tools(tools, tool_choice="none")  # a small model may keep calling tools

    async def think(state: MessagesState) -> dict[str, Any]:
        rounds = sum(1 for m in state["messages"] if isinstance(m, AIMessage) and m.tool_calls)
        model = first_turn if rounds == 0 else later_turns if rounds < max_tool_rounds else last_turn
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", think)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    result = await graph.compile().ainvoke({"messages": [SystemMessage(INSTRUCTIONS), HumanMessage(task)]})
    steps = []
    for message in result["messages"]:
        if isinstance(message, AIMessage):
            steps.extend(f"call {c['name']} {json.dumps(c['args'])}" for c in message.tool_calls)
        elif isinstance(message, ToolMessage):
            steps.append(f"output {json.dumps(message.content, default=str)}")
    return steps, str(result["messages"][-1].content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task")
    parser.add_argument("--url", default=os.environ.get("AIOS_URL", "http://127.0.0.1:8765"))
    parser.add_argument("--token", default=os.environ.get("AIOS_TOKEN", ""))
    parser.add_argument("--model", default="local", help="a model of `GET /v1/models`, or a litellm string")
    parser.add_argument("--tool-choice", help="auto, required, none, or a tool's name for the first turn")
    parser.add_argument("--max-tool-rounds", type=int, default=4, help="then the model must answer")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    steps, answer = asyncio.run(
        run(
            args.task,
            url=args.url,
            token=args.token,
            model=args.model,
            tool_choice=args.tool_choice,
            max_tool_rounds=args.max_tool_rounds,
        )
    )
    for step in steps:
        print(step)
    print(f"answer {answer}")


if __name__ == "__main__":
    main()
