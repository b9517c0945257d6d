"""Processes, for users: spawn, list, show, kill, wait, resume, logs; each user sees only their own."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from aios.agent_launch import AgentSandboxes, resume_agent, spawn_agent
from aios.api.auth import User
from aios.api.families import Routes, family
from aios.api.grants import Capability, UserGrants
from aios.api.lease import Lease
from aios.api.params import Id
from aios.api.tokens import Principal
from aios.isolation.channels import AgentChannels
from aios.kernel.contracts import KernelAPI, KernelRecords
from aios.kernel.errors import AgentFailed, UnknownProcess
from aios.kernel.records import AuditRow, ProcessRecord, ProcessState

router = APIRouter(prefix="/v1/processes", tags=["processes"])
AGENT_NAME = r"^[a-z][a-z0-9_-]*$"


class Processes(Routes, router=router):
    """Users' processes: installed agents started (isolated when `host` is given), agents attached from
    the caller's own program, and what each process did."""

    def __init__(
        self,
        kernel: KernelAPI,
        records: KernelRecords,
        grants: UserGrants,
        channels: AgentChannels,
        host: AgentSandboxes | None,
        *,
        attach_idle_s: float | None,
    ) -> None:
        self.kernel = kernel
        self.records = records
        self.grants = grants
        self.channels = channels
        self.host = host
        self.attach_idle_s = attach_idle_s
        """An attached process with no syscall and no report for this long fails (`daemon.attach_idle_s`)."""


State = Annotated[Processes, Depends(family(Processes))]


class SpawnRequest(BaseModel):
    """An installed agent to start, on what task, with at most its manifest's capabilities."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(pattern=AGENT_NAME, max_length=100)
    task: str = Field(max_length=100_000)
    capabilities: list[Capability] | None = Field(default=None, max_length=64)
    """Narrow the manifest's capabilities (never widened). Without it the process gets the manifest's,
    cut to what an admin granted the caller's user."""
    priority: int = Field(default=0, ge=-100, le=100)
    model: str | None = Field(default=None, max_length=200)
    session: str | None = Field(default=None, max_length=200)


class AttachRequest(BaseModel):
    """An agent that runs in the caller's own program: the daemon gives it a process and a token."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=AGENT_NAME, max_length=100)
    task: str = Field(max_length=100_000)
    capabilities: list[Capability] = Field(default_factory=lambda: ["llm"], max_length=64)
    """At most what an admin granted the caller's user (refused otherwise)."""
    priority: int = Field(default=0, ge=-100, le=100)
    model: str | None = Field(default=None, max_length=200)


class Attached(BaseModel):
    process: ProcessRecord
    token: str
    """The process's own token: its syscalls, its tools and its exit report, nothing else."""


class Logs(BaseModel):
    output: str
    """The end of what the agent process wrote to stdout and stderr (isolated agents)."""
    audit: list[AuditRow]


def visible(kernel: KernelAPI, who: Principal, pid: int) -> ProcessRecord:
    """The process, if it exists and `who` may see it: another user's looks like no process at all."""
    record = kernel.process(pid)
    if not who.admin and record.owner != who.user:
        raise UnknownProcess(f"no process {pid}")
    return record


@router.post("", status_code=201, summary="Start an installed agent on a task")
async def spawn(body: SpawnRequest, who: User, state: State) -> ProcessRecord:
    grants = state.grants
    ceiling = await asyncio.to_thread(grants.ceiling, who)
    requested = body.capabilities
    pid = await spawn_agent(
        state.kernel,
        body.agent,
        body.task,
        host=state.host,
        owner=who.user,
        capabilities=None if requested is None else await asyncio.to_thread(grants.check, who, requested),
        ceiling=ceiling,
        priority=body.priority,
        model=body.model,
        session=body.session,
    )
    return state.kernel.process(pid)


@router.post("/attach", status_code=201, summary="A process for an agent that runs in the caller's program")
async def attach(body: AttachRequest, who: User, state: State) -> Attached:
    channels = state.channels
    issued: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    lease = Lease(idle_s=state.attach_idle_s)  # held by the caller's syscalls, ended by its exit report

    async def program(pid: int) -> str | None:
        issued.set_result(channels.open(pid, in_use=lease.using))
        reported = asyncio.ensure_future(channels.reported(pid))
        reported.add_done_callback(lambda _: lease.end("reported"))
        try:
            await lease.program(pid)
        finally:
            reported.cancel()
            report = await channels.close(pid)
        if report is None:
            raise AgentFailed(
                f"the attached program made no syscall for {state.attach_idle_s:.0f}s and reported no end: "
                "it is presumed gone (daemon.attach_idle_s)"
            )
        if report.error is not None:
            raise AgentFailed(report.error, traceback=report.traceback)
        return report.result

    capabilities = await asyncio.to_thread(state.grants.check, who, body.capabilities)
    pid = await state.kernel.spawn(
        program,
        agent=body.name,
        task=body.task,
        capabilities=capabilities,
        owner=who.user,
        priority=body.priority,
        model=body.model,
    )
    return Attached(process=state.kernel.process(pid), token=await issued)


@router.get("", summary="Processes, newest first")
async def list_processes(
    who: User,
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: Annotated[ProcessState | None, Query(alias="state")] = None,
    active: bool = False,
) -> list[ProcessRecord]:
    return await asyncio.to_thread(
        state.records.processes,
        limit=limit,
        active_only=active,
        owner=None if who.admin else who.user,
        state=None if status is None else status.value,
    )


@router.get("/{pid}", summary="One process")
async def show(pid: Id, who: User, state: State) -> ProcessRecord:
    return visible(state.kernel, who, pid)


@router.post("/{pid}/kill", summary="End a process; its queued and running calls are cancelled")
async def kill(pid: Id, who: User, state: State) -> ProcessRecord:
    record = visible(state.kernel, who, pid)
    if record.state.is_terminal:
        return record
    return await state.kernel.kill(pid)


@router.get("/{pid}/wait", summary="The process's record once it has ended, or when the time is up")
async def wait(
    pid: Id, who: User, state: State, timeout_s: Annotated[float, Query(ge=0, le=300)] = 30.0
) -> ProcessRecord:
    visible(state.kernel, who, pid)
    try:
        return await asyncio.wait_for(state.kernel.wait(pid), timeout_s)
    except TimeoutError:
        return state.kernel.process(pid)


@router.post("/{pid}/resume", summary="Run an interrupted process again from its journal")
async def resume(pid: Id, who: User, state: State) -> ProcessRecord:
    visible(state.kernel, who, pid)
    ceiling = await asyncio.to_thread(state.grants.ceiling, who)
    return await resume_agent(state.kernel, pid, host=state.host, ceiling=ceiling)


@router.get("/{pid}/logs", summary="What the process asked for (its audit rows) and what it printed")
async def logs(
    pid: Id, who: User, state: State, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> Logs:
    visible(state.kernel, who, pid)
    rows = await asyncio.to_thread(state.records.audit, pid, limit=limit)
    output = await asyncio.to_thread(state.host.output, pid) if state.host is not None else ""
    return Logs(output=output, audit=rows)
