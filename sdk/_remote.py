"""The remote transport: an agent's Context talking to a kernel over HTTP (a Unix socket or TCP)."""

from __future__ import annotations

import json
import ssl
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import TypeAdapter

from aios.kernel import errors
from aios.kernel.errors import AiosError, RuntimeFailure
from aios.kernel.syscalls import (
    SYSCALL_RESULT_ADAPTER,
    LLMSyscall,
    MemorySyscall,
    NoopSyscall,
    SyscallResult,
    ToolSpec,
    ToolSyscall,
)
from aios.sdk._transport import Transport
from aios.sdk._wire import Wire

TOOL_SPECS = TypeAdapter(list[ToolSpec])


class _Answer(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def content(self) -> bytes: ...


def error_from_problem(response: _Answer) -> AiosError:
    """The `aios.sdk` error a problem+json response names (RuntimeFailure for anything unexpected)."""
    try:
        body: dict[str, Any] = json.loads(response.content)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    name = str(body.get("title") or "")
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, AiosError)):
        cls = RuntimeFailure
    detail = body.get("detail") or f"HTTP {response.status_code}: {response.content[:300]!r}"
    pid = body.get("pid") if isinstance(body.get("pid"), int) else None
    syscall_id = body.get("syscall_id") if isinstance(body.get("syscall_id"), str) else None
    return cls(str(detail), pid=pid, syscall_id=syscall_id)


def wire_for(url: str, *, token: str, socket: str | None = None) -> Wire:
    """The syscall wire to a daemon at `url` (http or https), or on the Unix socket `socket`."""
    if socket is not None:
        return Wire(token=token, socket=socket)
    parsed = urlsplit(url)
    tls = ssl.create_default_context() if parsed.scheme == "https" else None
    port = parsed.port or (443 if tls else 80)
    return Wire(token=token, host=parsed.hostname or "127.0.0.1", port=port, tls=tls)


class RemoteTransport(Transport):
    """Syscalls as HTTP requests carrying the process's own token; the kernel's errors come back raised."""

    def __init__(self, wire: Wire, pid: int) -> None:
        self.wire = wire
        self.pid = pid
        self._self: dict[str, Any] | None = None

    async def syscall(self, request: LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall) -> SyscallResult:
        response = await self.wire.post("/v1/syscalls", request.model_dump_json().encode())
        if response.status_code != 200:
            raise error_from_problem(response)
        return SYSCALL_RESULT_ADAPTER.validate_json(response.content)

    async def _about(self) -> dict[str, Any]:
        if self._self is None:  # capabilities and tools are fixed for a process's life
            response = await self.wire.get("/v1/self")
            if response.status_code != 200:
                raise error_from_problem(response)
            self._self = response.json()
        return self._self

    async def tool_specs(self) -> list[ToolSpec]:
        return TOOL_SPECS.validate_python((await self._about())["tools"])

    async def capabilities(self) -> list[str]:
        return list((await self._about())["capabilities"])

    async def exit(
        self, *, result: str | None = None, error: str | None = None, traceback: str | None = None
    ) -> None:
        """Tell the kernel how the agent ended, just before its program returns."""
        body = json.dumps({"result": result, "error": error, "traceback": traceback}).encode()
        response = await self.wire.post("/v1/self/exit", body)
        if response.status_code >= 400:
            raise error_from_problem(response)
