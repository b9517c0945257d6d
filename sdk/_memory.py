from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import ValidationError

from aios.kernel.errors import InvalidSyscall, describe_validation
from aios.kernel.memory_port import Kind, MemoryHit, MemoryItem, Tier
from aios.kernel.syscalls import MemoryOp, MemoryResult, MemorySyscall
from aios.sdk._transport import Transport


class Memory:
    """`ctx.memory`: the process's own memory (its user and agent), plus what capabilities let it read."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def _call(self, op: MemoryOp, **arguments: Any) -> Any:
        try:
            request = MemorySyscall(op=op, arguments={k: v for k, v in arguments.items() if v is not None})
        except ValidationError as e:
            raise InvalidSyscall(f"bad memory call: {describe_validation(e)}", pid=self._transport.pid) from e
        result = await self._transport.syscall(request)
        assert isinstance(result, MemoryResult), f"memory syscall answered with {type(result).__name__}"
        return result.output

    async def remember(
        self,
        text: str,
        *,
        kind: Literal["fact", "profile", "knowledge", "note"] = "fact",
        tags: Sequence[str] = (),
        key: str | None = None,
        supersedes: int | None = None,
        pinned: bool = False,
        session: str | None = None,
    ) -> MemoryItem:
        """Store a long-term memory; durable when this returns. A `key` replaces the previous fact with it."""
        output = await self._call(
            "remember",
            text=text,
            kind=kind,
            tags=list(tags),
            key=key,
            supersedes=supersedes,
            pinned=pinned or None,
            session=session,
        )
        return MemoryItem.model_validate(output)

    async def recall(
        self,
        query: str,
        *,
        k: int = 5,
        tiers: Sequence[Tier] | None = None,
        kinds: Sequence[Kind] | None = None,
        agents: Sequence[str] = (),
    ) -> list[MemoryHit]:
        """The `k` most relevant memories (vector and keyword search fused)."""
        output = await self._call(
            "recall",
            query=query,
            k=k,
            tiers=list(tiers) if tiers else None,
            kinds=list(kinds) if kinds else None,
            agents=list(agents) or None,
        )
        return [MemoryHit.model_validate(hit) for hit in output]

    async def get(self, item_id: int) -> MemoryItem:
        return MemoryItem.model_validate(await self._call("get", id=item_id))

    async def forget(self, item_id: int, *, purge: bool = False) -> MemoryItem:
        """Never recall this memory again; it stays as history unless `purge` erases its text too."""
        return MemoryItem.model_validate(await self._call("forget", id=item_id, purge=purge or None))

    async def pin(self, item_id: int) -> MemoryItem:
        """Always page this memory in, and never archive it."""
        return MemoryItem.model_validate(await self._call("pin", id=item_id))

    async def unpin(self, item_id: int) -> MemoryItem:
        return MemoryItem.model_validate(await self._call("unpin", id=item_id))

    async def observe(self, messages: Sequence[dict[str, str]]) -> MemoryItem:
        """Record one exchange as a dialogue page without an LLM call (e.g. importing a conversation)."""
        return MemoryItem.model_validate(await self._call("observe", messages=list(messages)))
