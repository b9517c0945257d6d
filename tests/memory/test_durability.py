"""A kernel killed with SIGKILL in the middle of writing loses no acknowledged memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from aios.boot import boot
from aios.config import load_settings
from aios.memory.store import MemoryStore
from aios.sdk import Context
from aios.transport import InProcessTransport

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from aios.boot import boot
    from aios.config import load_settings
    from aios.sdk import Context
    from aios.transport import InProcessTransport

    async def main(config: Path, data_dir: Path) -> None:
        kernel = await boot(load_settings(config, data_dir=data_dir))

        async def program(pid: int) -> None:
            ctx = Context(InProcessTransport(kernel, pid))
            n = 0
            while True:
                text = f"reading {n}: the tide gauge showed {n} cm"
                item = await ctx.memory.remember(text, key=f"gauge.{n % 7}")
                print(item.id, n, flush=True)
                n += 1

        pid = await kernel.spawn(program, agent="writer", task="write forever", capabilities=["memory.own"])
        await kernel.wait(pid)

    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
    """
)

ACKNOWLEDGED = 150


def write_until_killed(config: Path, data_dir: Path) -> dict[int, int]:
    """Run the writer kernel until it acknowledged ACKNOWLEDGED writes, then SIGKILL it mid-write."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(config), str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: dict[int, int] = {}
    try:
        assert writer.stdout is not None
        for line in writer.stdout:
            item_id, n = map(int, line.split())
            acked[item_id] = n
            if len(acked) >= ACKNOWLEDGED:
                break
    finally:
        writer.send_signal(signal.SIGKILL)
        _, stderr = writer.communicate(timeout=30)
    assert len(acked) == ACKNOWLEDGED, stderr[-2000:]
    assert writer.returncode == -signal.SIGKILL
    return acked


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    data_dir = tmp_path / "data"
    acked = write_until_killed(config, data_dir)

    settings = load_settings(config, data_dir=data_dir)
    store = MemoryStore(settings.memory_db_url)
    try:
        found = store.get_many(list(acked))
        assert sorted(found) == sorted(acked)
        for item_id, n in acked.items():
            assert found[item_id].text == f"reading {n}: the tide gauge showed {n} cm"
        # superseding kept its invariant through the kill: one active reading per key, the rest history
        everything = store.list_items(user="local", agent="writer", states=None, limit=None)
        active = [i for i in everything if i.state == "active"]
        assert len({i.key for i in active}) == len(active) == 7
        assert all(i.superseded_by is not None for i in everything if i.state == "superseded")
    finally:
        store.close()

    # a new kernel reaps the dead writer and serves the memory, vector index included
    kernel = await boot(settings)
    try:
        last_id = max(acked)
        hits: list[int] = []

        async def reader(pid: int) -> None:
            ctx = Context(InProcessTransport(kernel, pid))
            hits.extend(h.item.id for h in await ctx.memory.recall(f"reading {acked[last_id]}", k=3))

        pid = await kernel.spawn(reader, agent="writer", task="read", capabilities=["memory.own"])
        record = await kernel.wait(pid)
        assert record.state.value == "done", record.error
        assert last_id in hits
        orphans = [p for p in kernel.store.list_processes() if p.agent == "writer" and p.pid != pid]
        assert orphans and all(p.state.value == "failed" and "orphaned" in (p.error or "") for p in orphans)
    finally:
        await kernel.shutdown()
