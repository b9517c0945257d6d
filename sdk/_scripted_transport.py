"""The kernel side of the offline test kit: a Transport that serves an agent's syscalls from a script and
stubs, holds them to the rules a kernel would, and records each one."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, assert_never

from jsonschema.protocols import Validator
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticSerializationError

from aios.kernel.access import LLM_CAPABILITY, grants
from aios.kernel.errors import AiosError, InvalidSyscall, PermissionDenied
from aios.kernel.memory_port import MEMORY_OWN
from aios.kernel.syscalls import (
    SYSCALL_RESULT_ADAPTER,
    TOOL_NAME_PATTERN,
    LLMSyscall,
    MemoryOp,
    MemoryResult,
    MemorySyscall,
    NoopResult,
    NoopSyscall,
    Syscall,
    SyscallResult,
    ToolResult,
    ToolSpec,
    ToolSyscall,
)
from aios.sdk._schema_check import schema_problems, schema_validator
from aios.sdk._scripted_model import ScriptedModel, ScriptMismatch
from aios.sdk._transport import Transport

logger = logging.getLogger(__name__)

Request = LLMSyscall | ToolSyscall | MemorySyscall | NoopSyscall


class SyscallRecord(BaseModel):
    """One syscall the agent made, and how the kit answered it."""

    model_config = ConfigDict(frozen=True)

    request: Syscall
    status: Literal["ok", "error", "denied", "unexpected"]
    """`denied`: a capability was missing; `unexpected`: nothing in the script covers it (the test fails)."""
    result: Annotated[SyscallResult, Field(discriminator="kind")] | None = None
    error: str | None = None
    """What the agent was raised, as `Type: message`."""

    @property
    def target(self) -> str:
        """The tool's name, the memory operation, or the syscall's kind."""
        request = self.request
        if isinstance(request, ToolSyscall):
            return request.name
        if isinstance(request, MemorySyscall):
            return request.op
        return request.kind


def _stub_spec(name: str) -> ToolSpec:
    return ToolSpec(name=name, description=f"{name} (a stub: any arguments)", parameters={"type": "object"})


class ScriptedTransport(Transport):
    """Syscalls answered without a kernel: LLM calls by `model`, tools and memory by stubs.

    A stub is a function (called with the arguments as keywords; sync or async; it may raise an `aios.sdk`
    error such as `ToolError` to play a failing tool), an exception instance (raised on every call), or any
    other value (the output of every call). Outputs reach the agent through JSON, as over the wire.

    As a kernel would: a syscall needs its capability (`llm`, `memory.own`, the tool's name), a tool's
    arguments must satisfy its schema where `specs` gives one (InvalidSyscall otherwise), and `tool_specs`
    lists the granted tools. A call nothing covers raises ScriptMismatch, which `failures` keeps even if the
    agent swallows it.
    """

    def __init__(
        self,
        *,
        model: ScriptedModel | None = None,
        tools: Mapping[str, Any] | None = None,
        specs: Iterable[ToolSpec] = (),
        memory: Mapping[MemoryOp, Any] | None = None,
        capabilities: Iterable[str] | None = None,
        pid: int = 1,
    ) -> None:
        self.pid = pid
        self.model = model if model is not None else ScriptedModel()
        self.tool_stubs: dict[str, Any] = dict(tools or {})
        self.memory_stubs: dict[MemoryOp, Any] = dict(memory or {})
        self.specs: dict[str, ToolSpec] = {s.name: s for s in specs}
        for name in self.tool_stubs:
            if re.fullmatch(TOOL_NAME_PATTERN, name) is None:
                raise ValueError(f"tool stub {name!r}: a tool is named `driver.operation`, e.g. shell.exec")
            self.specs.setdefault(name, _stub_spec(name))
        self._validators: dict[str, Validator] = {
            name: schema_validator(spec.parameters, what=f"tool {name!r}")
            for name, spec in self.specs.items()
        }
        granted = capabilities if capabilities is not None else (LLM_CAPABILITY, MEMORY_OWN, *self.specs)
        self.granted = list(granted)
        self.syscalls: list[SyscallRecord] = []
        """Every syscall the agent made, in order."""
        self.failures: list[ScriptMismatch] = []
        """What the script did not cover, in order (the first one fails the run)."""

    async def tool_specs(self) -> list[ToolSpec]:
        return [spec for name, spec in self.specs.items() if grants(self.granted, name)]

    async def capabilities(self) -> list[str]:
        return list(self.granted)

    async def syscall(self, request: Request) -> SyscallResult:
        syscall_id = f"s{len(self.syscalls) + 1}"
        try:
            result = await self._serve(request, syscall_id)
        except ScriptMismatch as e:
            self.failures.append(e)
            self._record(request, "unexpected", error=e)
            raise
        except PermissionDenied as e:
            self._record(request, "denied", error=e)
            raise
        except AiosError as e:
            self._record(request, "error", error=e)
            raise
        self._record(request, "ok", result=result)
        return result

    def check(self) -> None:
        """Raise the first ScriptMismatch of the run, even one the agent caught and went on from."""
        if self.failures:
            raise self.failures[0]

    def _record(
        self,
        request: Request,
        status: Literal["ok", "error", "denied", "unexpected"],
        *,
        result: SyscallResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        said = None if error is None else f"{type(error).__name__}: {error}"
        self.syscalls.append(SyscallRecord(request=request, status=status, result=result, error=said))
        logger.debug("pid %d %s %s: %s", self.pid, request.kind, status, said or "")

    def _require(self, capability: str, syscall_id: str) -> None:
        if not grants(self.granted, capability):
            raise PermissionDenied(
                f"capability {capability!r} not granted", pid=self.pid, syscall_id=syscall_id
            )

    async def _serve(self, request: Request, syscall_id: str) -> SyscallResult:
        if isinstance(request, LLMSyscall):
            self._require(LLM_CAPABILITY, syscall_id)
            result: SyscallResult = await self.model.respond(request)
        elif isinstance(request, ToolSyscall):
            result = ToolResult(name=request.name, output=await self._tool(request, syscall_id))
        elif isinstance(request, MemorySyscall):
            result = MemoryResult(op=request.op, output=await self._memory(request, syscall_id))
        elif isinstance(request, NoopSyscall):
            result = NoopResult()
        else:
            assert_never(request)
        return _through_json(result)

    async def _tool(self, request: ToolSyscall, syscall_id: str) -> Any:
        name = request.name
        self._require(name, syscall_id)
        validator = self._validators.get(name)
        if validator is not None and (problems := schema_problems(validator, request.arguments)):
            raise InvalidSyscall(f"bad arguments for {name}: {problems}", pid=self.pid, syscall_id=syscall_id)
        if name not in self.tool_stubs:
            raise ScriptMismatch(
                f"the agent called tool {name!r} with {request.arguments}, but the test stubs only "
                f"{sorted(self.tool_stubs)}"
            )
        return await _play(self.tool_stubs[name], request.arguments, name)

    async def _memory(self, request: MemorySyscall, syscall_id: str) -> Any:
        self._require(MEMORY_OWN, syscall_id)
        if request.op not in self.memory_stubs:
            raise ScriptMismatch(
                f"the agent called memory {request.op!r} with {request.arguments}, but the test stubs only "
                f"{sorted(self.memory_stubs)}"
            )
        return await _play(self.memory_stubs[request.op], request.arguments, f"memory {request.op!r}")


async def _play(stub: Any, arguments: dict[str, Any], what: str) -> Any:
    """A stub's output for one call; a stub that breaks (not an `aios.sdk` error) is the test's mistake."""
    if isinstance(stub, BaseException):
        raise stub
    if not callable(stub):
        return stub
    try:
        output = stub(**arguments)
        if inspect.isawaitable(output):
            output = await output
    except AiosError:
        raise
    except Exception as e:
        raise ScriptMismatch(f"the stub for {what} failed on {arguments}: {type(e).__name__}: {e}") from e
    return output


def _through_json(result: SyscallResult) -> SyscallResult:
    """The result as the agent would get it from a kernel: serialised and parsed back."""
    try:
        wire = result.model_dump_json()
    except PydanticSerializationError as e:
        raise ScriptMismatch(f"a stub's output cannot cross the wire as JSON: {e}") from e
    return SYSCALL_RESULT_ADAPTER.validate_json(wire)
