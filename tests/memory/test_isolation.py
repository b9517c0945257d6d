"""One agent cannot read another's memory, nor one user another's, unless a capability grants reading."""

from __future__ import annotations

import pytest

from aios.kernel.errors import PermissionDenied
from aios.kernel.kernel import Kernel
from aios.kernel.memory_port import MemoryItem
from aios.sdk import Context
from aios.transport import InProcessTransport


async def run(kernel: Kernel, agent: str, capabilities: list[str], body, owner: str = "ann"):  # type: ignore[no-untyped-def]
    async def program(pid: int) -> object:
        return await body(Context(InProcessTransport(kernel, pid)))

    pid = await kernel.spawn(program, agent=agent, task="t", capabilities=capabilities, owner=owner)
    record = await kernel.wait(pid)
    return record


async def test_agents_and_users_are_isolated(kernel: Kernel) -> None:
    secret: list[MemoryItem] = []

    async def alpha(ctx: Context) -> None:
        secret.append(await ctx.memory.remember("The vault code is 7319", kind="fact"))

    assert (await run(kernel, "alpha", ["memory.own"], alpha)).state.value == "done"
    item_id = secret[0].id
    seen: dict[str, object] = {}

    async def beta(ctx: Context) -> None:
        seen["recall"] = await ctx.memory.recall("vault code")
        with pytest.raises(PermissionDenied, match=r"memory\.read\.alpha"):
            await ctx.memory.recall("vault code", agents=["alpha"])
        for op in (ctx.memory.get, ctx.memory.forget, ctx.memory.pin):
            with pytest.raises(PermissionDenied, match="belongs to another agent"):
                await op(item_id)

    record = await run(kernel, "beta", ["memory.own"], beta)
    assert record.state.value == "done", record.error
    assert seen["recall"] == []

    async def reader(ctx: Context) -> None:
        hits = await ctx.memory.recall("vault code", agents=["alpha"])
        seen["granted"] = [h.item.id for h in hits]
        seen["get"] = (await ctx.memory.get(item_id)).text
        with pytest.raises(PermissionDenied):
            await ctx.memory.forget(item_id)

    record = await run(kernel, "beta", ["memory.own", "memory.read.alpha"], reader)
    assert record.state.value == "done", record.error
    assert seen["granted"] == [item_id] and seen["get"] == "The vault code is 7319"

    async def stranger(ctx: Context) -> None:
        seen["stranger"] = await ctx.memory.recall("vault code", agents=["alpha"])
        with pytest.raises(PermissionDenied, match="belongs to another user"):
            await ctx.memory.get(item_id)

    record = await run(kernel, "beta", ["memory.own", "memory.read.alpha"], stranger, owner="bob")
    assert record.state.value == "done", record.error
    assert seen["stranger"] == []
    # the denials are in the audit log; the memory is intact
    kernel.store.flush()
    denied = [r for r in kernel.store.audit(limit=1000) if r.kind == "memory" and r.status == "denied"]
    assert len(denied) >= 6
    assert kernel.memory.store.get(item_id).state == "active"  # type: ignore[union-attr]
