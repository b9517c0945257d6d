"""Turns syscall messages into model text: the GGUF's chat template, plus tool-call prompting and parsing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from aios.kernel.syscalls import LLMSyscall, Message, ToolCall, ToolSpec

CHATML_FALLBACK = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _raise(message: str) -> None:
    raise ValueError(message)


class ChatTemplate:
    """A compiled chat template taken from the GGUF metadata (ChatML when the file has none)."""

    def __init__(self, source: str | None, *, bos_token: str, eos_token: str) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        self.source = source or CHATML_FALLBACK
        self._template = env.from_string(self.source)
        self._bos_token = bos_token
        self._eos_token = eos_token

    def render(self, messages: list[dict[str, str]]) -> str:
        """Render messages followed by the assistant's generation prompt."""
        return self._template.render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=self._bos_token,
            eos_token=self._eos_token,
        )


GRAMMAR_MAX_BOUNDED_LENGTH = 64
"""Longer string bounds are dropped from grammars: llama.cpp unrolls them into one rule per character."""


def grammar_friendly(schema: Any) -> Any:
    """A copy of a JSON schema without string-length bounds too large to unroll into a grammar."""
    if isinstance(schema, dict):
        out = {k: grammar_friendly(v) for k, v in schema.items()}
        if isinstance(out.get("maxLength"), int) and out["maxLength"] > GRAMMAR_MAX_BOUNDED_LENGTH:
            del out["maxLength"]
        return out
    if isinstance(schema, list):
        return [grammar_friendly(v) for v in schema]
    return schema


def tool_call_schema(tools: tuple[ToolSpec, ...], *, allow_answer: bool) -> dict[str, Any]:
    """JSON schema of one reply: a call of one of the tools or, if allowed, a final answer."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"tool": {"const": tool.name}, "arguments": grammar_friendly(tool.parameters)},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    if allow_answer:
        options.append(
            {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"oneOf": options}


def tool_instructions(tools: tuple[ToolSpec, ...]) -> str:
    """System-prompt text that teaches a model without native tool calling the reply format."""
    lines = ["You can use these tools:"]
    for tool in tools:
        lines.append(f"- {tool.name}: {tool.description} Arguments: {json.dumps(tool.parameters)}")
    lines.append('To use a tool, reply only with JSON: {"tool": "<name>", "arguments": {...}}.')
    example = _example_call(tools[0])
    if example:
        lines.append(f"For example: {example}")
    lines.append('When you know the final answer, reply only with JSON: {"answer": "<text>"}.')
    return "\n".join(lines)


def _example_call(tool: ToolSpec) -> str | None:
    """A one-line example call built from the first string argument's schema `examples`, if any."""
    properties = tool.parameters.get("properties", {})
    arguments = {}
    for name, prop in properties.items():
        examples = prop.get("examples") if isinstance(prop, dict) else None
        if not examples:
            return None
        arguments[name] = examples[0]
    return json.dumps({"tool": tool.name, "arguments": arguments}) if arguments else None


def _assistant_text(message: Message) -> str:
    if not message.tool_calls:
        return message.text
    call = message.tool_calls[0]
    return json.dumps({"tool": call.name, "arguments": call.arguments})


def template_messages(request: LLMSyscall) -> list[dict[str, str]]:
    """Messages as the template expects them, with tools described in the system prompt.

    Tools are described even under tool_choice "none" (as providers do), so the prompt prefix, and with it
    the KV cache, stays the same across an agent's turns.
    """
    tools = request.tools
    out: list[dict[str, str]] = []
    for message in request.messages:
        if message.role == "assistant":
            out.append({"role": "assistant", "content": _assistant_text(message)})
        elif message.role == "tool":
            # templates of small models know no tool role; the kernel has already fenced it as untrusted
            out.append({"role": "user", "content": message.text})
        else:
            out.append({"role": message.role, "content": message.text})
    if tools:
        text = tool_instructions(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{text}"}
        else:
            out.insert(0, {"role": "system", "content": text})
    return out


def parse_tool_reply(text: str) -> tuple[str, tuple[ToolCall, ...]]:
    """Split a grammar-constrained reply into (answer text, tool calls)."""
    data = json.loads(text, strict=False)  # the grammar lets raw control characters into strings
    if "tool" in data:
        call = ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=data["tool"], arguments=data["arguments"])
        return "", (call,)
    return str(data["answer"]), ()
