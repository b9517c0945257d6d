"""Wires the concrete parts (store, engines, drivers, policies, memory) into a kernel, and runs agents on
it. The only place that builds a `Kernel`: everything else holds it as a `KernelAPI`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aios.agent_loader import load_agent
from aios.config import Settings
from aios.kernel.access import narrow, within
from aios.kernel.approvals import ApprovalPolicy
from aios.kernel.contracts import KernelAPI, Program
from aios.kernel.drivers import Driver
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import UserError
from aios.kernel.kernel import Kernel
from aios.kernel.kv_policy import KVPolicy, create_kv_policy
from aios.kernel.memory_port import MemoryPort
from aios.kernel.records import ProcessRecord
from aios.kernel.scheduler import SchedulerPolicy, create_policy
from aios.kernel.store import ProcessStore
from aios.sdk import Agent, Context, Manifest
from aios.tools.registry import build_drivers
from aios.transport import InProcessTransport

if TYPE_CHECKING:
    from aios.isolation.host import AgentHost
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
    )
    await kernel.start()
    for name in await kernel.tools.open_at_boot():
        logger.error("driver %s failed to open; it is tried again on its first call", name)
    return kernel


def _program(
    kernel: KernelAPI, agent: str | type[Agent], task: str, host: AgentHost | None
) -> tuple[Callable[[str], Awaitable[Manifest]], Program, str]:
    """How to learn the agent's manifest, the program that runs it, and its entry (to run it again)."""
    entry = agent if isinstance(agent, str) else f"{agent.__module__}:{agent.__qualname__}"
    if host is not None:
        if isinstance(agent, str):
            return host.agents.manifest, host.agents.program(entry, task), entry
        return _known(agent.manifest), host.agents.program(entry, task), entry
    cls = load_agent(agent) if isinstance(agent, str) else agent

    async def program(pid: int) -> str:
        return await cls().run(task, Context(InProcessTransport(kernel, pid)))

    return _known(cls.manifest), program, entry


def _known(manifest: Manifest) -> Callable[[str], Awaitable[Manifest]]:
    async def known(_name: str) -> Manifest:
        return manifest

    return known


async def read_manifest(agent: str, host: AgentHost | None = None) -> Manifest:
    """An installed agent's manifest; with `host` it is read in a sandbox (its code never runs here)."""
    if host is not None:
        return await host.agents.manifest(agent)
    return load_agent(agent).manifest


async def spawn_agent(
    kernel: KernelAPI,
    agent: str | type[Agent],
    task: str,
    *,
    host: AgentHost | None = None,
    owner: str = "local",
    capabilities: list[str] | None = None,
    priority: int = 0,
    model: str | None = None,
    session: str | None = None,
    ceiling: list[str] | None = None,
) -> int:
    """Start an installed agent (by name or class) as a process; returns its pid.

    With `host` the agent runs in its own sandboxed OS process and its code is never imported here (a
    class must then be importable by its module and name); without, it runs inside the kernel. The
    process holds the manifest's capabilities (or the `capabilities` asked for, within them), cut to
    `ceiling` (what an admin granted the user who starts it).
    """
    read_manifest, program, entry = _program(kernel, agent, task, host)
    manifest = await read_manifest(entry)
    granted = narrow(manifest.capabilities, capabilities)
    return await kernel.spawn(
        program,
        agent=manifest.name,
        task=task,
        capabilities=granted if ceiling is None else within(ceiling, granted),
        owner=owner,
        priority=priority,
        model=model,
        session=session,
        entry=entry,
        isolated=host is not None,
    )


async def resume_agent(
    kernel: KernelAPI, pid: int, *, host: AgentHost | None = None, ceiling: list[str] | None = None
) -> ProcessRecord:
    """Run an interrupted agent process again, the way it first ran (isolated needs `host`), holding no
    more than `ceiling` (what its user is granted now)."""
    record = kernel.process(pid)
    if record.entry is None:
        raise UserError(f"process {pid} did not record what it runs; it cannot be resumed")
    if record.isolated and host is None:
        raise UserError(f"process {pid} ran isolated; resuming it needs an agent host")
    agent = record.entry if record.isolated else load_agent(record.entry)
    _, program, _ = _program(kernel, agent, record.task, host if record.isolated else None)
    capabilities = None if ceiling is None else within(ceiling, record.capabilities)
    return await kernel.resume(pid, program, capabilities=capabilities)
