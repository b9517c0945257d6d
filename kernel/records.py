"""Plain records of processes and audit rows, as the store keeps them and the CLI shows them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProcessState(StrEnum):
    READY = "ready"
    RUNNING = "running"
    WAITING_LLM = "waiting_llm"
    WAITING_TOOL = "waiting_tool"
    BLOCKED_APPROVAL = "blocked_approval"
    DONE = "done"
    FAILED = "failed"
    KILLED = "killed"
    INTERRUPTED = "interrupted"
    """Its kernel stopped (shut down, or died) before it ended: `aios resume` can finish it."""

    @property
    def is_terminal(self) -> bool:
        """Ended in this kernel (an interrupted process may still be resumed by another)."""
        return self in (ProcessState.DONE, ProcessState.FAILED, ProcessState.KILLED, ProcessState.INTERRUPTED)


class ProcessRecord(BaseModel):
    """One row of the process table."""

    model_config = ConfigDict(from_attributes=True)

    pid: int
    agent: str
    owner: str
    state: ProcessState
    task: str
    capabilities: list[str] = Field(default_factory=list)
    parent_pid: int | None = None
    priority: int = 0
    model: str | None = None
    result: str | None = None
    error: str | None = None
    traceback: str | None = None
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    llm_calls: int = 0
    tool_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    queue_wait_ms: float = 0.0
    host_pid: int | None = None
    """OS pid of the kernel that ran the process (to find orphans after a crash)."""
    kv_state: str | None = None
    """Where the engine keeps its KV cache: active, cached, pinned, swapped, preempted; None: nowhere."""
    kv_tokens: int = 0
    kv_host_bytes: int = 0
    entry: str | None = None
    """What the process runs, to run it again on resume: an installed agent's name or `module:Class`."""
    isolated: bool = False
    """Whether it runs in its own sandboxed OS process."""


class AuditRow(BaseModel):
    """One syscall as it happened: who asked, what, the outcome and its timings."""

    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    ts: float
    pid: int
    syscall_id: str
    kind: str
    target: str
    status: str
    """ok | error | denied | killed"""
    error: str | None = None
    queue_wait_us: int = 0
    service_us: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    detail: dict[str, Any] = Field(default_factory=dict)
