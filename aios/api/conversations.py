"""OpenAI-endpoint conversations as kernel processes: one per (user, conversation name), living until it is
idle past a timeout, its calls served in order, the gap between two calls treated as a tool pause."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aios.kernel.contracts import KernelAPI
from aios.kernel.errors import AiosError, LimitExceeded
from aios.kernel.events import KernelEvent
from aios.kernel.syscalls import LLMResult

logger = logging.getLogger(__name__)

AGENT = "openai"
"""The agent name of every endpoint process (what `aios ps` shows)."""
CLIENT_TOOL_PREFIX = "client."
"""Pauses are named after the client's function (`client.get_weather`), or `client.reply` when the client
gets a plain answer: per-tool pause statistics keep the two apart."""
REPLY_PAUSE = CLIENT_TOOL_PREFIX + "reply"

Key = tuple[str, str]
"""(user, conversation name): a name is only ever looked up under the caller's own user."""


@dataclass(eq=False, kw_only=True)
class Conversation:
    """A conversation's process and what orders its calls."""

    key: Key | None
    """None: a one-call program that ends with its call."""
    pid: int = -1
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    """Requests holding or waiting for the turn."""
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by the request being served: calls of one conversation run one after another, in order."""
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the conversation ends (idle, one call served, daemon stopping): its program returns."""


class Conversations:
    """The registry of the endpoint's conversations (created and closed by the daemon)."""

    def __init__(self, kernel: KernelAPI, *, idle_s: float, max_per_user: int) -> None:
        self.kernel = kernel
        self.idle_s = idle_s
        self.max_per_user = max_per_user
        self.created = int(time.time())
        self._named: dict[Key, Conversation] = {}
        self._spawning = asyncio.Lock()
        self._pid_to_listener: dict[int, Callable[[str], None]] = {}
        self._unsubscribe = kernel.subscribe(self._on_event)
        self._closed = False

    async def begin(self, user: str, name: str | None, *, model: str) -> Conversation:
        """Take the conversation's turn (spawning its process if it has none); `end` gives it back."""
        conversation = await self._find(user, name, model)
        conversation.in_flight += 1
        try:
            await conversation.turn.acquire()
        except BaseException:
            conversation.in_flight -= 1
            raise
        return conversation

    def end(self, conversation: Conversation) -> None:
        """Give the turn back (synchronous: a stream's client may have gone, cancelling whoever awaits)."""
        conversation.in_flight -= 1
        conversation.last_used = time.monotonic()
        conversation.turn.release()
        if conversation.key is None:
            conversation.ended.set()

    @contextlib.asynccontextmanager
    async def turn(self, user: str, name: str | None, *, model: str) -> AsyncIterator[Conversation]:
        """The conversation's turn for one call."""
        conversation = await self.begin(user, name, model=model)
        try:
            yield conversation
        finally:
            self.end(conversation)

    async def after(self, conversation: Conversation, result: LLMResult) -> None:
        """The call is answered and the client will come back: the KV policy pins or swaps the process's
        cache for the client's own tool (or its user's reply), and the pause is timed at the next call."""
        if conversation.key is None or conversation.in_flight > 1:  # ends now, or its next call waits
            return
        tool = REPLY_PAUSE
        if result.tool_calls:
            tool = CLIENT_TOOL_PREFIX + result.tool_calls[0].name
        try:
            await self.kernel.pause(conversation.pid, tool)
        except AiosError as e:
            logger.warning("pid %d: no KV decision for the client's pause: %s", conversation.pid, e)

    def listen(self, pid: int, on_text: Callable[[str], None]) -> Callable[[], None]:
        """Tell `on_text` the process's LLM output as it is generated; returns the function that stops."""
        self._pid_to_listener[pid] = on_text

        def stop() -> None:
            self._pid_to_listener.pop(pid, None)

        return stop

    def _on_event(self, event: KernelEvent) -> None:
        if event.kind == "llm_output":
            listener = self._pid_to_listener.get(event.pid)
            if listener is not None:
                listener(str(event.detail.get("text", "")))

    async def _find(self, user: str, name: str | None, model: str) -> Conversation:
        if name is None:
            conversation = Conversation(key=None)
            conversation.pid = await self._spawn(conversation, user, model, task="one chat completion")
            return conversation
        key = (user, name)
        async with self._spawning:
            conversation = self._named.get(key)
            if conversation is not None and not self._has_ended(conversation):
                conversation.last_used = time.monotonic()
                return conversation
            live = sum(1 for k, c in self._named.items() if k[0] == user and not self._has_ended(c))
            if live >= self.max_per_user:
                raise LimitExceeded(
                    f"{user} holds {live} conversations, the most allowed "
                    f"(daemon.max_conversations_per_user); they end after {self.idle_s:.0f}s without a call"
                )
            conversation = Conversation(key=key)
            conversation.pid = await self._spawn(conversation, user, model, task=f"conversation {name}")
            self._named[key] = conversation
            self._forget_ended()
            return conversation

    def _has_ended(self, conversation: Conversation) -> bool:
        return conversation.ended.is_set() or self.kernel.process(conversation.pid).state.is_terminal

    def _forget_ended(self) -> None:
        for key in [k for k, c in self._named.items() if self._has_ended(c)]:
            del self._named[key]

    async def _spawn(self, conversation: Conversation, user: str, model: str, *, task: str) -> int:
        async def program(_pid: int) -> str:
            return await self._live(conversation)

        return await self.kernel.spawn(
            program, agent=AGENT, task=task, capabilities=["llm"], owner=user, model=model
        )

    async def _live(self, conversation: Conversation) -> str:
        """The conversation's program: it waits while the client works, and ends once nobody calls."""
        while not conversation.ended.is_set():
            remaining = conversation.last_used + self.idle_s - time.monotonic()
            if conversation.in_flight == 0 and remaining <= 0:
                conversation.ended.set()
                return f"idle: no call for {self.idle_s:.0f}s"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conversation.ended.wait(), timeout=max(remaining, self.idle_s / 4))
        return "one call served" if conversation.key is None else "the daemon stopped"

    async def close(self) -> None:
        """End every conversation (the daemon stops) and wait for their processes; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        for conversation in self._named.values():
            conversation.ended.set()
        for conversation in list(self._named.values()):
            with contextlib.suppress(AiosError):
                await self.kernel.wait(conversation.pid)
        self._named.clear()
