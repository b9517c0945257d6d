"""OpenAI-endpoint conversations as kernel processes: one per (user, conversation name), living until it is
idle past a timeout, its calls served in order, the gap between two calls treated as a tool pause."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aios.api.lease import Lease, Leases
from aios.kernel.contracts import KernelAPI, Program
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


@dataclass(eq=False)
class Conversation:
    """A conversation's held process and what orders its calls."""

    lease: Lease
    one_off: bool
    """A one-call program that ends with its call."""
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held by the request being served: calls of one conversation run one after another, in order."""

    @property
    def pid(self) -> int:
        return self.lease.pid


class Conversations:
    """The endpoint's conversations, held as leases (created and closed by the OpenAI family)."""

    def __init__(self, kernel: KernelAPI, *, idle_s: float, max_per_user: int) -> None:
        self.kernel = kernel
        self.idle_s = idle_s
        self.max_per_user = max_per_user
        self.leases: Leases[Key] = Leases(kernel, idle_s=idle_s)
        self._by_pid: dict[int, Conversation] = {}
        self._pid_to_listener: dict[int, Callable[[str], None]] = {}
        self._unsubscribe: Callable[[], None] | None = kernel.subscribe(self._on_event)

    async def begin(self, user: str, name: str | None, *, model: str) -> Conversation:
        """Take the conversation's turn (spawning its process if it has none); `end` gives it back."""
        key = None if name is None else (user, name)

        async def start(program: Program) -> int:
            task = "one chat completion" if name is None else f"conversation {name}"
            return await self.kernel.spawn(
                program, agent=AGENT, task=task, capabilities=["llm"], owner=user, model=model
            )

        lease = await self.leases.hold(key, start, admit=lambda: self._admit(user))
        conversation = self._by_pid.get(lease.pid)
        if conversation is None:
            self._by_pid = {pid: c for pid, c in self._by_pid.items() if self.leases.alive(c.lease)}
            conversation = self._by_pid[lease.pid] = Conversation(lease=lease, one_off=key is None)
        lease.begin()
        try:
            await conversation.turn.acquire()
        except BaseException:
            lease.done()
            raise
        return conversation

    def _admit(self, user: str) -> None:
        live = self.leases.count(lambda key: key[0] == user)
        if live >= self.max_per_user:
            raise LimitExceeded(
                f"{user} holds {live} conversations, the most allowed "
                f"(daemon.max_conversations_per_user); they end after {self.idle_s:.0f}s without a call"
            )

    def end(self, conversation: Conversation) -> None:
        """Give the turn back (synchronous: a stream's client may have gone, cancelling whoever awaits)."""
        conversation.lease.done()
        conversation.turn.release()
        if conversation.one_off:
            conversation.lease.end("one call served")

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
        if conversation.one_off or conversation.lease.in_flight > 1:  # ends now, or its next call waits
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

    async def aclose(self) -> None:
        """End every conversation (the daemon stops) and wait for their processes; idempotent."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.leases.aclose()
