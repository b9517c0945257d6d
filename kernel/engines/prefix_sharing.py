"""Which cached prompt prefix a new call may start from, and when it should wait for one being prefilled.

Agents of one kind repeat long system prompts and tool descriptions: a call starts from the longest
prefix another sequence holds (cells copied, not recomputed), as SGLang's RadixAttention and vLLM's
automatic prefix caching do. Sharing is scoped: a prefix served from cache answers sooner, so the time to
a first token would tell one user what another user's prompts begin with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aios.kernel.engines.configs import PrefixSharing

if TYPE_CHECKING:
    from aios.kernel.engines.generation import Generation

MIN_COPY_TOKENS = 16
"""Fewer tokens than this are prefilled rather than copied (a copy of a whole stream costs a little)."""
RETAIN_S = 30.0
"""How long the prompt of an ended process is kept for others to start from (when no one needs the room
sooner): in llama.cpp's shared cache every decode attends over every cell in use, idle ones included."""
MIN_WAIT_TOKENS = 64
"""A call waits for a running prefill of its prefix only if that saves it at least this many tokens."""


def text_prefix(held: list[int], prompt: list[int], limit: int) -> int:
    """Leading tokens `held` shares with `prompt`, up to `limit`, stopping at an image placeholder (<0):
    placeholders name an image's place, not its pixels."""
    n = min(len(held), len(prompt), limit)
    i = 0
    while i < n and held[i] == prompt[i] and held[i] >= 0:
        i += 1
    return i


def may_share(mode: PrefixSharing, scope: str | None, other: str | None) -> bool:
    """Whether a call of `scope` may start from cells computed for `other`."""
    if mode == "all":
        return True
    return mode == "user" and scope is not None and scope == other


def prefill_leader(
    running: list[Generation], generation: Generation, *, mode: PrefixSharing, cached: int
) -> tuple[Generation, int] | None:
    """A running generation still prefilling a long prefix of this one's prompt, and how long that
    prefix is; None when waiting would save fewer than MIN_WAIT_TOKENS over the `cached` tokens."""
    if mode == "none" or generation.vision is not None:
        return None
    best: tuple[Generation, int] | None = None
    limit = len(generation.prompt) - 1
    for other in running:
        if other.vision is not None or other.seq is None or not other.pending:
            continue
        if not may_share(mode, generation.scope, other.scope):
            continue
        length = text_prefix(other.prompt, generation.prompt, limit)
        if length - max(cached, len(other.seq.tokens)) >= MIN_WAIT_TOKENS and (
            best is None or length > best[1]
        ):
            best = (other, length)
    return best


def leader_done(leader: Generation, length: int, running: list[Generation]) -> bool:
    """The leader's cache holds the shared prefix by now, or it will never (it ended or was paused)."""
    return leader not in running or leader.seq is None or len(leader.seq.tokens) >= length
