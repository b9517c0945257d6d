"""Assembling a prompt within budget: memories paged in, then recent dialogue pages, then the new turn."""

from __future__ import annotations

import time
from collections.abc import Sequence

from aios.kernel.memory_port import MemoryItem
from aios.kernel.syscalls import Message
from aios.memory.store import estimate_tokens

MEMORY_HEADER = "Memories from earlier conversations (use them if relevant):"


def page_text(messages: Sequence[Message]) -> str:
    """How a page is stored and searched: one `role: text` line per message."""
    return "\n".join(f"{m.role}: {m.content}" for m in messages if m.content)


def page_messages(page: MemoryItem, meta_messages: list[dict[str, str]]) -> list[Message]:
    """A stored page back as chat messages (tool output is shown as user-side text)."""
    out = []
    for message in meta_messages:
        role = message.get("role", "user")
        content = message.get("content", "")
        if role == "tool":
            role, content = "user", f"(tool output) {content}"
        if role in ("user", "assistant") and content:
            out.append(Message(role=role, content=content))
    return out or [Message(role="user", content=page.text)]


def memory_block(items: Sequence[MemoryItem], budget_tokens: int) -> tuple[str, list[int]]:
    """A bulleted list of memories within `budget_tokens`; returns it and the ids that fit."""
    lines, used, ids = [MEMORY_HEADER], estimate_tokens(MEMORY_HEADER), []
    for item in items:
        when = time.strftime("%Y-%m-%d", time.localtime(item.created_at))
        body = " ".join(item.text.split())
        line = f"- ({item.kind}, {when}) {body}"
        cost = estimate_tokens(line)
        if used + cost > budget_tokens:
            room = (budget_tokens - used) * 3 - 40
            if room < 80:
                continue
            line = line[:room] + "..."
            cost = estimate_tokens(line)
        lines.append(line)
        used += cost
        ids.append(item.id)
    return ("\n".join(lines), ids) if ids else ("", [])


def recent_pages(pages: Sequence[MemoryItem], budget_tokens: int) -> list[MemoryItem]:
    """The newest pages whose tokens fit the budget, oldest first."""
    kept: list[MemoryItem] = []
    used = 0
    for page in reversed(pages):
        if kept and used + page.tokens > budget_tokens:
            break
        kept.append(page)
        used += page.tokens
    return list(reversed(kept))


def assemble(
    messages: Sequence[Message], block: str, pages: Sequence[tuple[MemoryItem, list[Message]]]
) -> list[Message]:
    """System text (with the memory block), the recent pages as turns, then the request's own turns."""
    system = [m for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    if block:
        if system:
            first = system[0]
            system[0] = first.model_copy(update={"content": f"{first.content}\n\n{block}"})
        else:
            system = [Message(role="system", content=block)]
    history = [m for _, page in pages for m in page]
    return [*system, *history, *rest]
