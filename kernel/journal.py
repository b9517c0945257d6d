"""The syscall journal: every answer a resumable process got, committed before it gets it, so that after a
crash its code can be run again and answered from here (tools never run twice) until it reaches new ground.

Requests are matched by content, oldest first, so calls an agent makes concurrently may come back in
another order; a request the journal does not hold while unanswered entries remain means the program no
longer does what it did: replay stops with `ReplayDiverged` and the process fails.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel

from aios.kernel import errors
from aios.kernel.errors import AiosError, KernelShutDown, ReplayDiverged, Signal
from aios.kernel.process_table import LiveProcess
from aios.kernel.store import ProcessStore
from aios.kernel.syscalls import SYSCALL_RESULT_ADAPTER, NoopSyscall, SyscallResult


class Journal:
    def __init__(self, store: ProcessStore) -> None:
        self.store = store

    @staticmethod
    def keeps(proc: LiveProcess, request: BaseModel) -> bool:
        """Only processes that can be resumed (their program is known) pay for journaling, and not for a
        no-op: it changes nothing and always answers the same, so a replay may ask it live."""
        return proc.record.entry is not None and not proc.background and not isinstance(request, NoopSyscall)

    async def load(self, proc: LiveProcess) -> None:
        """Arm replay for a resumed process: its journal, unanswered, and numbering that continues it."""
        entries = await asyncio.to_thread(self.store.journal, proc.pid)
        proc.replay = entries
        proc.journal_seq = max((e["seq"] for e in entries), default=-1) + 1

    async def record(self, proc: LiveProcess, request: BaseModel, result: SyscallResult) -> None:
        await self._append(proc, request, {"result": result.model_dump(mode="json")})

    async def record_error(self, proc: LiveProcess, request: BaseModel, error: AiosError) -> None:
        """A refusal or failure the agent saw is an answer too (it may have acted on it); the process's
        own end (killed, the kernel stopping) is not."""
        if not isinstance(error, Signal | KernelShutDown):
            await self._append(proc, request, {"error": type(error).__name__, "message": error.message})

    async def _append(self, proc: LiveProcess, request: BaseModel, outcome: dict[str, Any]) -> None:
        seq = proc.journal_seq
        proc.journal_seq += 1
        committed = self.store.append_journal(
            pid=proc.pid, seq=seq, ts=time.time(), request=request.model_dump(mode="json"), outcome=outcome
        )
        await asyncio.wrap_future(committed)

    def replay(self, proc: LiveProcess, request: BaseModel, syscall_id: str) -> SyscallResult:
        """The journaled answer to `request` (returned, or raised as the error it was)."""
        asked = request.model_dump(mode="json")
        assert proc.replay is not None
        for i, entry in enumerate(proc.replay):
            if entry["request"] == asked:
                del proc.replay[i]
                return _answer(entry["outcome"], pid=proc.pid, syscall_id=syscall_id)
        expected, left = proc.replay[0]["request"], len(proc.replay)
        proc.replay = []
        raise ReplayDiverged(
            f"diverged: on resume the program asked {_brief(asked)} where its journal holds "
            f"{_brief(expected)} ({left} unanswered entries); replay stopped",
            pid=proc.pid,
            syscall_id=syscall_id,
        )


def _answer(outcome: dict[str, Any], *, pid: int, syscall_id: str) -> SyscallResult:
    if "result" in outcome:
        return SYSCALL_RESULT_ADAPTER.validate_python(outcome["result"])
    cls = getattr(errors, outcome.get("error", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, AiosError)):
        cls = errors.RuntimeFailure
    raise cls(str(outcome.get("message", "")), pid=pid, syscall_id=syscall_id)


def _brief(request: dict[str, Any]) -> str:
    kind = request.get("kind")
    if kind == "tool":
        return f"tool {request.get('name')}({str(request.get('arguments'))[:80]})"
    if kind == "llm":
        messages = request.get("messages") or [{}]
        return f"llm call ending {str(messages[-1].get('content'))[:80]!r}"
    if kind == "memory":
        return f"memory {request.get('op')}"
    return str(kind)
