"""The remote transport: an agent's Context talking to a kernel over HTTP (a Unix socket or TCP)."""

from __future__ import annotations

import json
import ssl
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import TypeAdapter

from aios.kernel import errors
from aios.kernel.errors import AiosError, RuntimeFailure, UserError
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


class Answer(Protocol):
    """An HTTP answer as the SDK reads it (an httpx response, or the syscall wire's own)."""

    @property
    def status_code(self) -> int: ...
    @property
    def content(self) -> bytes: ...


class JsonAnswer(Answer, Protocol):
    """An answer whose body the transport reads as JSON (`/v1/self`)."""

    def json(self) -> Any: ...


class SyscallWire(Protocol):
    """How a RemoteTransport reaches its kernel: the h11 `Wire` on a socket, or the httpx transport of the
    client that attached the agent (an in-process app)."""

    async def post(self, path: str, payload: bytes) -> JsonAnswer: ...
    async def get(self, path: str) -> JsonAnswer: ...
    async def aclose(self) -> None: ...


def error_from_problem(response: Answer) -> AiosError:
    """The `aios.sdk` error a problem+json response names, its detail as the message and its status in a
    note; a title the SDK does not know is a UserError for a 4xx, a RuntimeFailure otherwise."""
    try:
        body: dict[str, Any] = json.loads(response.content)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    title = str(body.get("title") or "")
    detail = str(body.get("detail") or f"HTTP {status}: {response.content[:300]!r}")
    cls = getattr(errors, title, None)
    if not (isinstance(cls, type) and issubclass(cls, AiosError)):
        cls = UserError if 400 <= status < 500 else RuntimeFailure
        detail = f"{title}: {detail}" if title else detail
    pid = body.get("pid") if isinstance(body.get("pid"), int) else None
    error = cls(detail, pid=pid)  # every class takes these two (AgentFailed takes no syscall_id)
    error.syscall_id = body.get("syscall_id") if isinstance(body.get("syscall_id"), str) else None
    error.add_note(f"the daemon answered HTTP {status}")
    return error


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

    def __init__(self, wire: SyscallWire, pid: int) -> None:
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
