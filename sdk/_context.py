from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import ValidationError

from aios.kernel.access import grants
from aios.kernel.errors import InvalidSyscall, describe_validation
from aios.kernel.syscalls import (
    LLMResult,
    LLMSyscall,
    Message,
    NoopSyscall,
    Sampling,
    ToolResult,
    ToolSpec,
    ToolSyscall,
)
from aios.sdk._memory import Memory
from aios.sdk._transport import Transport


class Context:
    """An agent's only door to the system: every method is a syscall to the kernel."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.memory = Memory(transport)
        """Remember, recall, forget and pin; see `aios.sdk.Memory`."""
        self.log = logging.getLogger(f"aios.agent.pid{transport.pid}")

    @property
    def pid(self) -> int:
        return self._transport.pid

    async def has_capability(self, capability: str) -> bool:
        """Whether this process may use `capability` (the user may have narrowed the manifest's set)."""
        return grants(await self._transport.capabilities(), capability)

    async def tools(self) -> list[ToolSpec]:
        """Tools this process may call, with JSON schemas ready to hand to `llm(tools=...)`."""
        return await self._transport.tool_specs()

    async def llm(
        self,
        messages: str | Sequence[Message | dict[str, Any]],
        *,
        tools: Sequence[ToolSpec] | bool = False,
        tool_choice: Literal["auto", "required", "none"] = "auto",
        response_schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
        model: str | None = None,
        repeat_penalty: float = 1.0,
        ignore_eos: bool = False,
        last_step: bool = False,
        memory: bool = False,
    ) -> LLMResult:
        """One completion; `tools=True` offers every tool this process may call.

        With `memory=True` send only the new turn: the kernel adds relevant memories and the recent dialogue,
        and records the exchange as a page of the process's session.
        """
        if isinstance(messages, str):
            messages = [Message(role="user", content=messages)]
        specs: Sequence[ToolSpec] = await self.tools() if tools is True else (tools or ())
        try:
            request = LLMSyscall(
                messages=tuple(m if isinstance(m, Message) else Message.model_validate(m) for m in messages),
                tools=tuple(specs),
                tool_choice=tool_choice,
                response_schema=response_schema,
                max_tokens=max_tokens,
                stop=tuple(stop),
                sampling=Sampling(
                    temperature=temperature,
                    top_p=top_p,
                    seed=seed,
                    repeat_penalty=repeat_penalty,
                    ignore_eos=ignore_eos,
                ),
                model=model,
                last_step=last_step,
                memory=memory,
            )
        except ValidationError as e:
            raise InvalidSyscall(f"bad llm call: {describe_validation(e)}", pid=self.pid) from e
        result = await self._transport.syscall(request)
        assert isinstance(result, LLMResult), f"llm syscall answered with {type(result).__name__}"
        return result

    async def tool(self, name: str, /, **arguments: Any) -> Any:
        """Run `driver.operation` with keyword arguments and return its output."""
        try:
            request = ToolSyscall(name=name, arguments=arguments)
        except ValidationError as e:
            raise InvalidSyscall(f"bad tool call {name!r}: {describe_validation(e)}", pid=self.pid) from e
        result = await self._transport.syscall(request)
        assert isinstance(result, ToolResult), f"tool syscall answered with {type(result).__name__}"
        return result.output

    async def noop(self) -> None:
        """A syscall that does nothing (for measuring the kernel's overhead)."""
        await self._transport.syscall(NoopSyscall())
