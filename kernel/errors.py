"""One error hierarchy for the whole runtime, so callers can catch at the right depth.

AiosError
├── UserError                 the caller asked for something wrong; fix the request
│   ├── ConfigError           invalid configuration file, key or value
│   ├── InvalidSyscall        malformed syscall arguments
│   │   └── ModelCannotSee    a call with images to a model that reads text only
│   ├── UnknownProcess        no such pid
│   ├── UnknownApproval       no pending approval request by that id
│   ├── UnknownAgent          no installed agent by that name
│   ├── UnknownModel          no configured engine by that name
│   └── PermissionDenied      the process lacks the capability
│       ├── ApprovalDenied    a human or the approval policy refused the operation (or nobody answered)
│       └── HostBlocked       the browser's allow-list does not include the host
├── RuntimeFailure            the request was fine, something failed serving it
│   ├── EngineError           an LLM engine failed
│   │   ├── EngineAuthError
│   │   ├── EngineRateLimited
│   │   ├── ContextOverflow
│   │   └── EngineTimeout
│   ├── ToolError             a driver failed or the tool exited badly
│   │   └── ToolTimeout
│   ├── MemoryFailure         the memory manager failed on a valid request
│   ├── SandboxUnavailable    the sandbox cannot be set up and unsandboxed mode is off
│   ├── LimitExceeded         a budget (steps, output bytes) ran out
│   └── KernelShutDown        the kernel no longer takes new processes
└── Signal                    control flow, not failure
    └── ProcessKilled         the process was killed while the call was in flight

An agent that catches `AiosError` catches every mistake it can make through `aios.sdk`.
"""

from __future__ import annotations

from pydantic import ValidationError


class AiosError(Exception):
    """Root of every error the runtime raises on purpose."""

    def __init__(self, message: str, *, pid: int | None = None, syscall_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pid = pid
        self.syscall_id = syscall_id

    def __str__(self) -> str:
        where = []
        if self.pid is not None:
            where.append(f"pid {self.pid}")
        if self.syscall_id is not None:
            where.append(f"syscall {self.syscall_id}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class UserError(AiosError):
    """The caller asked for something wrong; retrying unchanged will fail again."""


class ConfigError(UserError):
    """Configuration is invalid; the message names the offending key."""


class InvalidSyscall(UserError):
    """A syscall's arguments failed validation."""


class ModelCannotSee(InvalidSyscall):
    """A call with images went to a model that reads text only: an agent may go on without them."""


class UnknownProcess(UserError):
    """No process with that pid exists."""


class UnknownApproval(UserError):
    """No pending approval request with that id."""


class UnknownAgent(UserError):
    """No installed agent has that name."""


class UnknownModel(UserError):
    """No configured engine has that name."""


class PermissionDenied(UserError):
    """The process lacks the capability for this syscall."""


class ApprovalDenied(PermissionDenied):
    """The operation needed approval and was refused: by a human, by policy, or because nobody answered."""


class HostBlocked(PermissionDenied):
    """The browser may not reach this host (`browser.allow_hosts`)."""


class RuntimeFailure(AiosError):
    """The request was valid but serving it failed."""


class EngineError(RuntimeFailure):
    """An LLM engine failed to serve a request."""


class EngineAuthError(EngineError):
    """The provider rejected the credentials."""


class EngineRateLimited(EngineError):
    """The provider kept rate-limiting after the retries ran out."""


class ContextOverflow(EngineError):
    """The prompt does not fit the model's context window."""


class EngineTimeout(EngineError):
    """The engine did not answer in time."""


class ToolError(RuntimeFailure):
    """A driver operation failed."""


class ToolTimeout(ToolError):
    """A driver operation ran past its wall-clock limit."""


class MemoryFailure(RuntimeFailure):
    """The memory manager failed while serving a valid memory syscall."""


class SandboxUnavailable(RuntimeFailure):
    """The sandbox cannot be set up and running unsandboxed is not allowed."""


class LimitExceeded(RuntimeFailure):
    """A budget ran out (steps, output bytes)."""


class KernelShutDown(RuntimeFailure):
    """The kernel is shutting down or shut down; it takes no new processes."""


class ReplayDiverged(RuntimeFailure):
    """A resumed program asked for something its journal does not hold: it no longer does what it did."""


class AgentFailed(RuntimeFailure):
    """An agent process ended badly: its own error, or a crash; `message` is what the process table shows."""

    def __init__(self, message: str, *, traceback: str | None = None, pid: int | None = None) -> None:
        super().__init__(message, pid=pid)
        self.traceback = traceback


class Signal(AiosError):
    """Control flow carried as an exception; not a failure of the request."""


class ProcessKilled(Signal):
    """The process was killed while this call was in flight."""


def describe_validation(error: ValidationError, *, limit: int = 5) -> str:
    """Pydantic's report as one line, `field.path: problem; ...` (errors shown to users and agents)."""
    parts = []
    for item in error.errors(include_url=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
