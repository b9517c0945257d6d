"""A whole kernel (process table, audit log, memory) on each database."""

from __future__ import annotations

from pathlib import Path

from aios.boot import boot
from aios.config import Settings
from aios.kernel.store import ProcessStore
from aios.sdk import Context
from aios.transport import InProcessTransport


async def test_kernel_and_memory_share_the_configured_database(
    database_url: str, settings: Settings, tmp_path: Path
) -> None:
    kernel = await boot(settings.model_copy(update={"database_url": database_url}), cwd=tmp_path)
    recalled: list[str] = []
    try:

        async def program(pid: int) -> str:
            ctx = Context(InProcessTransport(kernel, pid))
            first = await ctx.memory.remember("The boiler is serviced every March", key="boiler")
            await ctx.memory.remember("The boiler is serviced every April", key="boiler")
            recalled.extend(h.item.text for h in await ctx.memory.recall("when is the boiler serviced?"))
            return str((await ctx.memory.get(first.id)).state)

        pid = await kernel.spawn(program, agent="home", task="t", capabilities=["memory.own"])
        record = await kernel.wait(pid)
        assert record.state.value == "done" and record.result == "superseded", record.error
        assert recalled == ["The boiler is serviced every April"]
    finally:
        await kernel.shutdown()
    store = ProcessStore(database_url)
    try:
        assert store.get_process(pid).state.value == "done"  # type: ignore[union-attr]
        kinds = [(row.kind, row.target, row.status) for row in store.audit(pid=pid)]
        assert kinds.count(("memory", "remember", "ok")) == 2 and ("memory", "recall", "ok") in kinds
    finally:
        store.close()
