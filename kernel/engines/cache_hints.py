"""The kernel's KV decisions, turned into the cache controls each kind of remote server understands."""

from __future__ import annotations

import copy
from typing import Any

from aios.kernel.engines.configs import CacheHints
from aios.kernel.kv_types import KVDecision

ANTHROPIC_LONG_TTL_AFTER_S = 300.0
"""Anthropic keeps a cache entry 5 minutes by default; a pause predicted to be longer asks for 1 hour."""


_PREFIX_TO_PROVIDER: dict[str, CacheHints] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "hosted_vllm": "vllm",
}


def provider_of(model: str, configured: CacheHints) -> CacheHints:
    """Which hint dialect to speak: the configured one, or guessed from the litellm model prefix."""
    if configured != "auto":
        return configured
    return _PREFIX_TO_PROVIDER.get(model.split("/", 1)[0], "none")


def apply_hints(
    kwargs: dict[str, Any],
    *,
    provider: CacheHints,
    owner: int,
    decision: KVDecision | None,
    last_step: bool,
    llamacpp_slots: int,
) -> dict[str, Any]:
    """A copy of litellm's keyword arguments with the provider's cache controls added."""
    out = copy.deepcopy(kwargs)
    extra: dict[str, Any] = dict(out.pop("extra_body", None) or {})
    program = str(decision.program_id if decision and decision.program_id is not None else owner)
    if provider == "anthropic":
        gap = decision.predicted_gap_s if decision and decision.predicted_gap_s is not None else 0.0
        ttl = "1h" if gap > ANTHROPIC_LONG_TTL_AFTER_S else "5m"
        _mark_last_message(out["messages"], {"type": "ephemeral", "ttl": ttl})
    elif provider == "openai":
        out["prompt_cache_key"] = f"aios-program-{program}"
    elif provider == "vllm":
        extra.update({"job_id": program, "is_last_step": last_step})
    elif provider == "llamacpp":
        extra.update({"id_slot": owner % llamacpp_slots, "cache_prompt": True})
    if extra:
        out["extra_body"] = extra
    return out


def _mark_last_message(messages: list[dict[str, Any]], cache_control: dict[str, str]) -> None:
    """Put a cache breakpoint on the last message: everything up to it is the prefix to keep."""
    if not messages:
        return
    last = messages[-1]
    content = last.get("content")
    if isinstance(content, str):
        last["content"] = [{"type": "text", "text": content, "cache_control": cache_control}]
    elif isinstance(content, list) and content:
        content[-1] = {**content[-1], "cache_control": cache_control}
