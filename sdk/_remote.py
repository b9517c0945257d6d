"""The remote transport: an agent's Context talking to a kernel over HTTP (a Unix socket or TCP)."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import TypeAdapter

from aios.kernel import errors
from aios.kernel.errors import AiosError, RuntimeFailure
from aios.kernel.syscalls import (
    LLMResult,
    LLMSyscall,
    MemoryResult,
    MemorySyscall,
    NoopResult,
    NoopSyscall,
    SyscallResult,
    ToolResult,
    ToolSpec,
    ToolSyscall,
)
from aios.sdk._transport import Transport

RESULT = TypeAdapter[SyscallResult](LLMResult | ToolResult | MemoryResult | NoopResult)
TOOL_SPECS = TypeAdapter(list[ToolSpec])
UNIX_BASE_URL = "http://aios"
"""The host name a Unix-socket client puts in its URLs (any name works; the socket decides)."""


def error_from_problem(response: httpx.Response) -> AiosError:
    """The `aios.sdk` error a problem+json response names (RuntimeFailure for anything unexpected)."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    name = str(body.get("title") or "")
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, AiosError)):
        cls = RuntimeFailure
    detail = body.get("detail") or f"HTTP {response.status_code}: {response.text[:300]}"
    pid = body.get("pid") if isinstance(body.get("pid"), int) else None
    syscall_id = body.get("syscall_id") if isinstance(body.get("syscall_id"), str) else None
    return cls(str(detail), pid=pid, syscall_id=syscall_id)


def http_client(
    url: str, *, token: str, socket: str | None = None, timeout: httpx.Timeout | None = None
) -> httpx.AsyncClient:
    """A client for a daemon at `url`, or at the Unix socket `socket`, that sends `token`."""
    transport = httpx.AsyncHTTPTransport(uds=socket) if socket else None
    return httpx.AsyncClient(
        base_url=UNIX_BASE_URL if socket else url,
        transport=transport,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout or httpx.Timeout(None, connect=10.0),
    )


class RemoteTransport(Transport):
    """Syscalls as HTTP requests carrying the process's own token; the kernel's errors come back raised."""

    def __init__(self, client: httpx.AsyncClient, pid: int) -> None:
        self.client = client
        self.pid = pid
        self._self: dict[str, Any] | None = None

    async def syscall(self, request: LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall) -> SyscallResult:
        response = await self.client.post(
            "/v1/syscalls",
            content=request.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise error_from_problem(response)
        return RESULT.validate_json(response.content)

    async def _about(self) -> dict[str, Any]:
        if self._self is None:  # capabilities and tools are fixed for a process's life
            response = await self.client.get("/v1/self")
            if response.status_code != 200:
                raise error_from_problem(response)
            self._self = response.json()
        return self._self

    async def tool_specs(self) -> list[ToolSpec]:
        return TOOL_SPECS.validate_python((await self._about())["tools"])

    async def capabilities(self) -> list[str]:
        return list((await self._about())["capabilities"])
