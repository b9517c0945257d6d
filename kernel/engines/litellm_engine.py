"""Any hosted or self-hosted model through litellm, with provider errors mapped to syscall errors."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Literal

from aios.kernel.engines.cache_hints import apply_hints, provider_of
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.engines.interface import Engine, EngineCapacity, EngineInfo, PreparedCall, Yielded
from aios.kernel.errors import (
    ContextOverflow,
    EngineAuthError,
    EngineError,
    EngineRateLimited,
    EngineTimeout,
)
from aios.kernel.kv_types import KVDecision
from aios.kernel.syscalls import LLMResult, LLMSyscall, Message, ToolCall, ToolSpec, Usage

logger = logging.getLogger(__name__)

# litellm fetches a model price list from the network at import unless told to use its bundled copy
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _wire_name(name: str) -> str:
    """Provider function names may not contain dots."""
    return name.replace(".", "__")


def _unwire_name(name: str, offered: tuple[ToolSpec, ...]) -> str:
    """The offered tool a provider's function name stands for (names without dots pass through)."""
    for tool in offered:
        if _wire_name(tool.name) == name:
            return tool.name
    return name


def _wire_content(message: Message) -> str | list[dict[str, Any]]:
    """Text, or OpenAI's content parts (litellm turns them into each provider's own image format)."""
    if isinstance(message.content, str) or message.role != "user":
        return message.text
    return [part.model_dump(exclude_none=True) for part in message.content]


def _wire_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": _wire_content(message)}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": _wire_name(call.name), "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def request_kwargs(request: LLMSyscall) -> dict[str, Any]:
    """The litellm keyword arguments for one syscall (without model, endpoint and credentials)."""
    kwargs: dict[str, Any] = {
        "messages": [_wire_message(m) for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.sampling.temperature,
        "top_p": request.sampling.top_p,
    }
    if request.sampling.seed is not None:
        kwargs["seed"] = request.sampling.seed
    if request.stop:
        kwargs["stop"] = list(request.stop)
    if request.tools and request.tool_choice != "none":
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": _wire_name(t.name),
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
        kwargs["tool_choice"] = (
            {"type": "function", "function": {"name": _wire_name(request.tool_name)}}
            if request.tool_name
            else request.tool_choice
        )
    if request.response_schema is not None:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": request.response_schema},
        }
    return kwargs


class LiteLLMEngine(Engine):
    """Calls litellm's async completion; concurrency is left to the provider."""

    def __init__(self, config: RemoteModelConfig, *, name: str) -> None:
        self.config = config
        self.name = name
        self.provider = provider_of(config.model, config.cache_hints)
        self._owner_to_decision: dict[int, KVDecision] = {}

    def capacity(self) -> EngineCapacity:
        return EngineCapacity(
            max_running=self.config.max_concurrency, context_tokens=self.config.context_tokens
        )

    async def park(self, owner: int, decision: KVDecision) -> None:
        self._owner_to_decision[owner] = decision

    async def release(self, owner: int) -> None:
        self._owner_to_decision.pop(owner, None)

    def cannot_see(self) -> str | None:
        if self.config.vision is not None:
            return None if self.config.vision else "its configuration says vision = false"
        import litellm

        try:
            sees = litellm.supports_vision(model=self.config.model)
        except Exception:
            sees = False
        if sees:
            return None
        return (
            "litellm does not list it as a vision model (if it is one, set vision = true in its "
            "[models.<name>] section)"
        )

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            kind="litellm",
            model=self.config.model,
            max_concurrency=self.config.max_concurrency,
            detail=self.config.api_base or "provider default endpoint",
        )

    async def run(self, call: PreparedCall, *, budget_tokens: int | None = None) -> LLMResult | Yielded:
        """One completion; a provider cannot pause mid-way, so the budget is ignored."""
        return await self.complete(call.request, owner=call.owner)

    async def complete(self, request: LLMSyscall, *, owner: int) -> LLMResult:
        import litellm

        kwargs = request_kwargs(request)
        kwargs = apply_hints(
            kwargs,
            provider=self.provider,
            owner=owner,
            decision=self._owner_to_decision.get(owner),
            last_step=request.last_step,
            llamacpp_slots=self.config.llamacpp_slots,
        )
        kwargs["model"] = self.config.model
        kwargs["timeout"] = self.config.timeout_s
        kwargs["num_retries"] = 0
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        if self.config.api_key is not None:
            kwargs["api_key"] = self.config.api_key.get_secret_value()
        attempt = 0
        while True:
            try:
                response = await litellm.acompletion(**kwargs)
                return self._result(response, request.tools)
            except litellm.RateLimitError as e:
                if attempt >= self.config.max_retries:
                    raise EngineRateLimited(
                        f"{self.config.model}: still rate-limited after {attempt} retries: {e.message}",
                        pid=owner,
                    ) from e
                delay = self.config.retry_backoff_s * 2**attempt
                logger.info("%s rate-limited; retry %d in %.1fs", self.config.model, attempt + 1, delay)
                attempt += 1
                await asyncio.sleep(delay)
            except litellm.AuthenticationError as e:
                raise EngineAuthError(
                    f"{self.config.model}: authentication failed: {e.message}", pid=owner
                ) from e
            except litellm.ContextWindowExceededError as e:
                raise ContextOverflow(f"{self.config.model}: prompt too long: {e.message}", pid=owner) from e
            except litellm.Timeout as e:
                raise EngineTimeout(
                    f"{self.config.model}: no answer within {self.config.timeout_s}s", pid=owner
                ) from e
            except litellm.APIError as e:
                raise EngineError(f"{self.config.model}: {type(e).__name__}: {e.message}", pid=owner) from e
            except litellm.exceptions.OpenAIError as e:
                raise EngineError(f"{self.config.model}: {type(e).__name__}: {e}", pid=owner) from e

    def _result(self, response: Any, offered: tuple[ToolSpec, ...]) -> LLMResult:
        choice = response.choices[0]
        message = choice.message
        calls = []
        for call in message.tool_calls or ():
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except json.JSONDecodeError as e:
                raise EngineError(
                    f"{self.config.model} returned tool arguments that are not JSON: {e}"
                ) from e
            calls.append(
                ToolCall(id=call.id, name=_unwire_name(call.function.name, offered), arguments=arguments)
            )
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", 0) or 0
        reason = choice.finish_reason
        finish: Literal["stop", "length", "tool_calls"] = (
            "tool_calls" if calls else "length" if reason == "length" else "stop"
        )
        return LLMResult(
            content=message.content or "",
            tool_calls=tuple(calls),
            finish_reason=finish,
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                reused_tokens=cached,
                prefilled_tokens=prompt_tokens - cached,
            ),
            model=getattr(response, "model", None) or self.config.model,
        )
