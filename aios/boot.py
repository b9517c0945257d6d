"""Wires the concrete parts (store, engines, drivers, policies, memory) into a kernel. The only place that
builds a `Kernel`: everything else holds it as a `KernelAPI` (agents start on it through `agent_launch`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aios.config import Settings
from aios.kernel.approvals import ApprovalPolicy
from aios.kernel.drivers import Driver
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.images import ImageLimits
from aios.kernel.kernel import Kernel
from aios.kernel.kv_policy import KVPolicy, create_kv_policy
from aios.kernel.memory_port import MemoryPort
from aios.kernel.scheduler import SchedulerPolicy, create_policy
from aios.kernel.store import ProcessStore
from aios.tools.registry import build_drivers

if TYPE_CHECKING:
    from aios.memory.manager import MemoryManager

logger = logging.getLogger(__name__)


async def boot(
    settings: Settings,
    *,
    cwd: Path | None = None,
    on_engine_load: Callable[[str], None] | None = None,
    preload: bool = False,
    extra_drivers: Sequence[Driver] = (),
) -> Kernel:
    """A ready kernel; orphans of a kernel that died are marked failed first.

    `on_engine_load` is told when a local model starts loading (on the first LLM call that needs it, or
    at once with `preload`, which loads the default model while the rest boots: `aios run` needs it).
    `extra_drivers` join the configured ones (an evaluation's task computers).
    """
    engines = EngineRegistry(settings.engine_models(), default=settings.default_model)
    if on_engine_load is not None:
        engines.on_load = on_engine_load
    if preload:
        engines.preload()  # a failed load is reported by the first LLM call, which awaits the same load
    store = await asyncio.to_thread(ProcessStore, settings.db_url)
    await asyncio.to_thread(store.reap_orphans, time.time())
    memory = await asyncio.to_thread(open_memory, settings) if settings.memory.enabled else None
    drivers = configured_drivers(settings, cwd=cwd)
    drivers.update({driver.name: driver for driver in extra_drivers})
    return await assemble(
        store=store,
        engines=engines,
        drivers=drivers,
        policy=create_policy(settings.policy, slice_tokens=settings.slice_tokens),
        kv_policy=create_kv_policy(settings.kv_policy),
        workdir_root=settings.workdir_root,
        memory=memory,
        approvals=settings.approvals.with_file_rules(),
        image_limits=settings.images,
    )


def configured_drivers(settings: Settings, *, cwd: Path | None = None) -> dict[str, Driver]:
    """The drivers `settings` configure, by name, none of them opened yet."""
    return build_drivers(
        shell=settings.shell,
        browser=settings.browser,
        gui=settings.gui,
        kubernetes=settings.kubernetes,
        ansible=settings.ansible,
        mcp=settings.mcp,
        cwd=cwd,
        private=(settings.data_dir,),
    )


def open_memory(settings: Settings) -> MemoryManager:
    """The memory manager on the configured database and vector index (both opened lazily where possible)."""
    from aios.memory.manager import MemoryManager

    return MemoryManager(
        settings.memory, database_url=settings.memory_db_url, chroma_path=settings.chroma_path
    )


async def assemble(
    *,
    store: ProcessStore,
    engines: EngineRegistry,
    drivers: Mapping[str, Driver],
    policy: SchedulerPolicy,
    kv_policy: KVPolicy,
    workdir_root: Path,
    memory: MemoryPort | None = None,
    approvals: ApprovalPolicy | None = None,
    image_limits: ImageLimits | None = None,
) -> Kernel:
    """A started kernel from parts built elsewhere (benchmarks bring their own engine and drivers)."""
    kernel = Kernel(
        store=store,
        engines=engines,
        drivers=drivers,
        policy=policy,
        kv_policy=kv_policy,
        workdir_root=workdir_root,
        memory=memory,
        approvals=approvals,
        image_limits=image_limits,
    )
    await kernel.start()
    for name in await kernel.tools.open_at_boot():
        logger.error("driver %s failed to open; it is tried again on its first call", name)
    return kernel
