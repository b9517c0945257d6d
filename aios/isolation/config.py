"""The `[agents]` table: how agent programs run."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AgentsConfig(BaseModel):
    """Settings of agent processes."""

    model_config = ConfigDict(extra="forbid")

    isolation: Literal["process", "in_process"] = "process"
    """`process`: each agent runs in its own sandboxed OS process (the default: agent code is untrusted).
    `in_process`: inside the kernel, for trusted agents and benchmarks only."""
    memory_mb: int = Field(default=2048, ge=256)
    """Address-space limit of an agent process."""
    cpu_seconds: int = Field(default=3600, ge=1)
    """CPU time an agent process may use (its own code; LLM and tool work run in the kernel)."""
    open_files: int = Field(default=256, ge=32)
    max_processes: int = Field(default=256, ge=8)
    """Processes and threads of an agent's sandbox at once (pids.max of its cgroup); where aios runs as
    root, also RLIMIT_NPROC of its uid, which its shell commands share."""
    nice: int = Field(default=10, ge=0, le=19)
    """Scheduling niceness of agent processes: their own code (and a busy loop in it) yields the CPU to the
    kernel's engine and drivers."""
    max_inflight_syscalls: int = Field(default=64, ge=1)
    """Syscalls one agent process may have in flight at once; more are refused with 429."""
    log_bytes: int = Field(default=64 * 1024, ge=1024)
    """Most bytes kept of an agent process's stdout and stderr (the end of it)."""
    bwrap: str = "bwrap"
