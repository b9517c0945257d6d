"""What an agent process may call, with its own token: its syscalls, what it may do, and its exit."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, TypeAdapter

from aios.api.auth import process_pid
from aios.api.families import Routes, family
from aios.isolation.channels import AgentChannels, ExitReport
from aios.kernel.contracts import KernelAPI
from aios.kernel.errors import InvalidSyscall
from aios.kernel.syscalls import Syscall, ToolSpec
from aios.sdk._wire import IDEMPOTENCY_HEADER

router = APIRouter(prefix="/v1", tags=["agent processes"])


class AgentSyscalls(Routes, router=router):
    """The family agent processes reach with their own tokens (on the daemon and on a kernel's private
    agent socket)."""

    def __init__(self, kernel: KernelAPI, channels: AgentChannels) -> None:
        self.kernel = kernel
        self.channels = channels


Pid = Annotated[int, Depends(process_pid)]
Agents = Annotated[AgentSyscalls, Depends(family(AgentSyscalls))]


class AboutSelf(BaseModel):
    pid: int
    capabilities: list[str]
    tools: list[ToolSpec]


@router.post(
    "/syscalls",
    summary="One syscall of the calling agent process",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TypeAdapter(Syscall).json_schema()}},
        }
    },
)
async def syscall(pid: Pid, agents: Agents, request: Request) -> Response:
    """The body is a syscall (`kind`: llm, tool, memory, noop); the answer is its result.

    The request is validated by the kernel itself, so an invalid one is audited like any other. One sent
    again under the same `Idempotency-Key` (its connection failed) is answered without running twice.
    """
    try:
        parsed: Any = json.loads(await request.body())
    except ValueError as e:
        raise InvalidSyscall(f"the body is not JSON: {e}", pid=pid) from e
    if not isinstance(parsed, dict):
        raise InvalidSyscall(f"a syscall is a JSON object, not {type(parsed).__name__}", pid=pid)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    result = await agents.channels.call(pid, lambda: agents.kernel.syscall(pid, parsed), key=key)
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/self", summary="The calling process's pid, capabilities and tools")
async def about_self(pid: Pid, agents: Agents) -> AboutSelf:
    record = agents.kernel.process(pid)
    return AboutSelf(pid=pid, capabilities=record.capabilities, tools=agents.kernel.tool_specs(pid))


@router.post("/self/exit", status_code=204, summary="The calling process's result, just before it exits")
async def report_exit(pid: Pid, agents: Agents, report: ExitReport) -> None:
    agents.channels.report_exit(pid, report)
