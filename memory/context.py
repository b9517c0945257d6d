"""Assembling a prompt within budget: memories paged in, then recent dialogue pages, then the new turn."""

from __future__ import annotations

import time
from collections.abc import Sequence

from aios.kernel.syscalls import Message, TextPart
from aios.memory.schema import MemoryRow
from aios.memory.store import estimate_tokens

MEMORY_HEADER = "Memories from earlier conversations (use them if relevant):"
ANSWER_CHARS = 120
"""An earlier answer is shortened to this in a memory line (the user's words are the memory)."""


IMAGE_TOKENS = 800
"""What an image is guessed to cost in a prompt (a provider's 1080p screenshot: 765 to 1,100 tokens)."""


def message_text(message: Message) -> str:
    """What memory keeps of a message: its text, and a mention of each image (never the image)."""
    return message.text + " [an image]" * len(message.images)


def message_tokens(message: Message) -> int:
    return estimate_tokens(message.text) + IMAGE_TOKENS * len(message.images)


def page_text(messages: Sequence[Message]) -> str:
    """How a page is stored and searched: one `role: text` line per message."""
    return "\n".join(f"{m.role}: {text}" for m in messages if (text := message_text(m)))


def page_messages(page: MemoryRow) -> list[Message]:
    """A stored page back as chat messages (tool output is shown as user-side text)."""
    out = []
    for message in page.meta.get("messages", []):
        role = message.get("role", "user")
        content = message.get("content", "")
        if role == "tool":
            role, content = "user", f"(tool output) {content}"
        if role in ("user", "assistant") and content:
            out.append(Message(role=role, content=content))
    return out or [Message(role="user", content=page.text)]


def memory_line(item: MemoryRow) -> str:
    """One memory as plain prose (small models misread `user:`/`assistant:` transcripts inside a turn)."""
    when = time.strftime("%Y-%m-%d", time.localtime(item.created_at))
    meta_messages = item.meta.get("messages", []) if item.kind == "page" else []
    if meta_messages:
        parts = []
        for message in meta_messages:
            text = " ".join(message.get("content", "").split())
            role = message.get("role")
            if role == "user":
                parts.append(f'the user said "{text}"')
            elif role == "assistant":
                parts.append(f'you answered "{text[:ANSWER_CHARS]}"')
            else:
                parts.append(f'a tool returned "{text[:ANSWER_CHARS]}"')
        return f"- On {when} " + " and ".join(parts) + "."
    label = {"segment": "summary of an earlier conversation", "profile": "about the user"}.get(
        item.kind, item.kind
    )
    return f"- ({label}, {when}) {' '.join(item.text.split())}"


def memory_block(items: Sequence[MemoryRow], budget_tokens: int) -> str:
    """A bulleted list of the memories that fit `budget_tokens` (empty when none does)."""
    lines, used = [MEMORY_HEADER], estimate_tokens(MEMORY_HEADER)
    for item in items:
        line = memory_line(item)
        cost = estimate_tokens(line)
        if used + cost > budget_tokens:
            room = (budget_tokens - used) * 3 - 40
            if room < 80:
                continue
            line = line[:room] + "..."
            cost = estimate_tokens(line)
        lines.append(line)
        used += cost
    return "\n".join(lines) if len(lines) > 1 else ""


def recent_pages(pages: Sequence[MemoryRow], budget_tokens: int) -> list[MemoryRow]:
    """The newest pages whose tokens fit the budget, oldest first."""
    kept: list[MemoryRow] = []
    used = 0
    for page in reversed(pages):
        if kept and used + page.tokens > budget_tokens:
            break
        kept.append(page)
        used += page.tokens
    return list(reversed(kept))


def assemble(messages: Sequence[Message], block: str, history: Sequence[Message]) -> list[Message]:
    """System text, the recent pages as turns, then the request's turns with the memories before the last
    user turn: what changes every call comes last, so the engine reuses the KV cache of the dialogue."""
    system = [m for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    if block:
        last_user = max((i for i, m in enumerate(rest) if m.role == "user"), default=None)
        if last_user is None:
            system = [*system, Message(role="system", content=block)]
        else:
            turn = rest[last_user]
            content = (
                f"{block}\n\n{turn.content}"
                if isinstance(turn.content, str)
                else (TextPart(text=block), *turn.content)
            )
            rest[last_user] = turn.model_copy(update={"content": content})
    return [*system, *history, *rest]
