"""Wires the concrete parts (store, engines, drivers, policy) into a kernel, and runs agents on it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aios.agent_loader import load_agent
from aios.config import Settings
from aios.kernel.access import narrow
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.kernel import Kernel
from aios.kernel.kv_policy import create_kv_policy
from aios.kernel.scheduler import create_policy
from aios.kernel.store import ProcessStore
from aios.memory.manager import MemoryManager
from aios.sdk import Agent, Context
from aios.tools.registry import build_drivers
from aios.transport import InProcessTransport


async def boot(settings: Settings, *, cwd: Path | None = None) -> Kernel:
    """A ready kernel; orphans of a kernel that died are marked failed first."""
    store = await asyncio.to_thread(ProcessStore, settings.db_url)
    await asyncio.to_thread(store.reap_orphans, time.time())
    memory = await asyncio.to_thread(open_memory, settings) if settings.memory.enabled else None
    kernel = Kernel(
        store=store,
        engines=EngineRegistry(settings.engine_models(), default=settings.default_model),
        drivers=build_drivers(
            shell=settings.shell,
            browser=settings.browser,
            gui=settings.gui,
            kubernetes=settings.kubernetes,
            ansible=settings.ansible,
            cwd=cwd,
        ),
        policy=create_policy(settings.policy, slice_tokens=settings.slice_tokens),
        kv_policy=create_kv_policy(settings.kv_policy),
        workdir_root=settings.workdir_root,
        memory=memory,
        approvals=settings.approvals.with_file_rules(),
    )
    await kernel.start()
    return kernel


def open_memory(settings: Settings) -> MemoryManager:
    """The memory manager on the configured database and vector index (both opened lazily where possible)."""
    return MemoryManager(
        settings.memory, database_url=settings.memory_db_url, chroma_path=settings.chroma_path
    )


async def spawn_agent(
    kernel: Kernel,
    agent: str | type[Agent],
    task: str,
    *,
    owner: str = "local",
    capabilities: list[str] | None = None,
    priority: int = 0,
    model: str | None = None,
    session: str | None = None,
) -> int:
    """Start an installed agent (by name or class) as a process; returns its pid."""
    cls = load_agent(agent) if isinstance(agent, str) else agent
    granted = narrow(cls.manifest.capabilities, capabilities)

    async def program(pid: int) -> str:
        return await cls().run(task, Context(InProcessTransport(kernel, pid)))

    return await kernel.spawn(
        program,
        agent=cls.manifest.name,
        task=task,
        capabilities=granted,
        owner=owner,
        priority=priority,
        model=model,
        session=session,
    )
