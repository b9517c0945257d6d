"""The LLM path: capability, the engine, memory paged in, untrusted output fenced, the call counted by its
engine, queued with the dispatcher, and its result accounted for."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aios.kernel.access import LLM_CAPABILITY, require
from aios.kernel.auditor import SyscallAudit
from aios.kernel.dispatcher import Dispatcher
from aios.kernel.engines.interface import Engine
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.errors import ModelCannotSee
from aios.kernel.events import KernelEvent
from aios.kernel.images import ImageLimits, inline_images
from aios.kernel.kv_lifecycle import KVLifecycle
from aios.kernel.memory_glue import MemoryGlue
from aios.kernel.process_table import LiveProcess, ProcessTable
from aios.kernel.records import ProcessState
from aios.kernel.scheduler import QueuedCall
from aios.kernel.syscalls import LLMResult, LLMSyscall
from aios.kernel.untrusted import mark_untrusted


class LLMPath:
    def __init__(
        self,
        table: ProcessTable,
        engines: EngineRegistry,
        dispatcher: Dispatcher,
        kv: KVLifecycle,
        memory: MemoryGlue,
        *,
        workdir: Callable[[int], Path],
        image_limits: ImageLimits,
    ) -> None:
        self.table = table
        self.engines = engines
        self.dispatcher = dispatcher
        self.kv = kv
        self.memory = memory
        self.workdir = workdir
        self.image_limits = image_limits
        self._seq = itertools.count()

    async def call(self, proc: LiveProcess, request: LLMSyscall, audit: SyscallAudit) -> LLMResult:
        pid = proc.pid
        require(proc.record.capabilities, LLM_CAPABILITY, pid=pid, syscall_id=audit.syscall_id)
        engine = await self.engines.acquire(request.model or proc.record.model)
        if any(m.images for m in request.messages):
            request, audit.detail["images"] = await self._inline_images(proc, request, engine)
        original = request
        if request.memory:
            request = await self.memory.page_in(proc, request, engine.capacity().context_tokens)
        messages, untrusted = mark_untrusted(request.messages)
        if untrusted:
            request = request.model_copy(update={"messages": messages})
        proc.engines_used.add(engine.name)
        pause = self.kv.on_return(proc)
        self.table.enter(proc, ProcessState.WAITING_LLM)
        try:
            result, wait_s, service_s, preemptions = await self._run(proc, request, engine, audit)
        finally:
            self.table.leave(proc)
        usage = result.usage
        self.kv.on_llm_done(proc, engine.name, usage.prompt_tokens + usage.completion_tokens, wait_s)
        self.table.count(
            proc,
            llm_calls=1,
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            queue_wait_ms=wait_s * 1000,
        )
        detail: dict[str, Any] = {
            "reused_tokens": usage.reused_tokens,
            "prefilled_tokens": usage.prefilled_tokens,
            "finish_reason": result.finish_reason,
            "tool_calls": [c.name for c in result.tool_calls],
            "preemptions": preemptions,
        }
        if pause is not None:
            detail["pause"] = pause
        if original.memory:
            failure = await self.memory.record(proc, original, result)
            if failure is not None:
                detail["memory_error"] = failure
        audit.finish(
            "ok",
            queue_wait_us=int(wait_s * 1e6),
            service_us=int(service_s * 1e6),
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            detail=detail,
            event={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "queue_wait_ms": wait_s * 1000,
            },
        )
        return result

    async def _inline_images(
        self, proc: LiveProcess, request: LLMSyscall, engine: Engine
    ) -> tuple[LLMSyscall, list[dict[str, Any]]]:
        """The request with its images checked and inlined, and what the audit keeps of them."""
        blind = engine.cannot_see()
        if blind is not None:
            raise ModelCannotSee(f"model {engine.info().model!r} ({engine.name}) cannot read images: {blind}")
        messages, facts = await asyncio.to_thread(
            inline_images, request.messages, self.workdir(proc.pid), self.image_limits
        )
        return request.model_copy(update={"messages": messages}), [f.as_detail() for f in facts]

    async def _run(
        self, proc: LiveProcess, request: LLMSyscall, engine: Engine, audit: SyscallAudit
    ) -> tuple[LLMResult, float, float, int]:
        """Queue the call and await it; returns the result, queue wait, service time and preemptions."""
        record = proc.record
        prepared = await engine.prepare(
            request, owner=proc.pid, program_arrival=record.created_at, scope=record.owner
        )
        prepared.offload_when_evicted = self.kv.policy.offload_when_evicted
        events = self.dispatcher.events
        if events.active:  # the daemon and `aios run` watch output as it comes; benchmarks do not

            def stream(text: str) -> None:
                events.emit(
                    KernelEvent(
                        kind="llm_output", pid=proc.pid, syscall_id=audit.syscall_id, detail={"text": text}
                    )
                )

            prepared.on_text = stream
        enqueued = time.monotonic()
        counts_cells = engine.capacity().kv_cells is not None
        call = QueuedCall(
            syscall_id=audit.syscall_id,
            pid=proc.pid,
            seq=next(self._seq),
            enqueued_at=enqueued,
            engine=engine.name,
            priority=record.priority,
            program_arrival=record.created_at,
            kv_resident=self.kv.resident(engine, proc.pid),
            background=proc.background,
            cells_needed=prepared.cells_needed if counts_cells else 0,
        )
        ticket = self.dispatcher.submit(call, prepared, engine)
        try:
            result = await ticket.future
        except asyncio.CancelledError:
            self.dispatcher.abandon(call)
            raise
        finished = time.monotonic()
        started = ticket.started_at or finished
        return result, max(0.0, started - enqueued), finished - started, ticket.preemptions
