"""The KV cache across tool calls: what a pause deserves, how long pauses last, and what `aios ps` shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aios.kernel.engines.interface import Engine
from aios.kernel.engines.registry import EngineRegistry
from aios.kernel.kv_policy import KVPolicy, Pause, ToolDurations
from aios.kernel.kv_types import DEFAULT_CALIBRATION
from aios.kernel.process_table import LiveProcess, ProcessTable
from aios.kernel.records import AuditRow
from aios.kernel.traces import tool_pauses

MONITOR_PERIOD_S = 0.5
QUEUE_DELAY_SMOOTHING = 0.2


class KVLifecycle:
    def __init__(
        self, table: ProcessTable, engines: EngineRegistry, policy: KVPolicy, durations: ToolDurations
    ) -> None:
        self.table = table
        self.engines = engines
        self.policy = policy
        self.durations = durations
        self.queue_delay_s = 0.0
        """Moving average of LLM queue waits (the T of the TTL trade-off)."""
        self._monitor: asyncio.Task[None] | None = None

    def seed(self, rows: Iterable[AuditRow]) -> int:
        """Start from the pauses the audit log recorded, not from the prior; returns how many."""
        pauses = tool_pauses(rows)
        for tool, seconds in pauses:
            self.durations.record(tool, seconds)
        return len(pauses)

    def on_return(self, proc: LiveProcess) -> dict[str, Any] | None:
        """A process makes an LLM call: the pause since its last one is a sample for the tool it ran."""
        tool, proc.paused_for = proc.paused_for, None
        decision, proc.pause_decision = proc.pause_decision, None
        if tool is None or proc.last_llm_end is None:
            return None
        seconds = time.monotonic() - proc.last_llm_end
        self.durations.record(tool, seconds)
        pause: dict[str, Any] = {"tool": tool, "s": round(seconds, 4)}
        if decision is not None:
            pause["kv"] = decision
        return pause

    def on_llm_done(self, proc: LiveProcess, engine: str, cached_tokens: int, queue_wait_s: float) -> None:
        proc.last_engine, proc.last_llm_end, proc.cached_tokens = engine, time.monotonic(), cached_tokens
        self.queue_delay_s += QUEUE_DELAY_SMOOTHING * (queue_wait_s - self.queue_delay_s)

    async def pause(self, proc: LiveProcess, tool: str) -> dict[str, Any] | None:
        """The process goes off to `tool`: decide what its KV cache deserves and tell the engine."""
        proc.paused_for, proc.pause_decision = tool, None
        if proc.last_engine is None:
            return None
        engine = self.engines.get(proc.last_engine)
        cells = engine.capacity().kv_cells
        entries = engine.kv_entries()
        pause = Pause(
            pid=proc.pid,
            tool=tool,
            tokens=proc.cached_tokens,
            program_arrival=proc.record.created_at,
            pressure=sum(e.cells for e in entries) / cells if cells else 0.0,
            queue_delay_s=self.queue_delay_s,
        )
        decision = self.policy.decide(pause, self.durations, engine.calibration or DEFAULT_CALIBRATION)
        decision = decision.model_copy(update={"program_id": proc.pid})
        await engine.park(proc.pid, decision)
        proc.pause_decision = {
            "action": decision.action,
            "ttl_s": round(decision.ttl_s, 3),
            "policy": self.policy.name,
        }
        return proc.pause_decision

    @staticmethod
    def resident(engine: Engine, pid: int) -> bool:
        return any(e.owner == pid and e.cells > 0 for e in engine.kv_entries())

    def watch(self) -> None:
        """Mirror KV states into the process table while processes live (started at each spawn)."""
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.create_task(self._mirror(), name="aios-kv-monitor")

    async def _mirror(self) -> None:
        pid_to_shown: dict[int, tuple[str | None, int, int]] = {}
        while live := [p for p in self.table.all_live() if not p.record.state.is_terminal]:
            owner_to_entry = {e.owner: e for engine in self.engines.loaded() for e in engine.kv_entries()}
            for proc in live:
                entry = owner_to_entry.get(proc.pid)
                shown = (entry.state.value, entry.tokens, entry.host_bytes) if entry else (None, 0, 0)
                if pid_to_shown.get(proc.pid) != shown:
                    pid_to_shown[proc.pid] = shown
                    kv_state, kv_tokens, kv_host_bytes = shown
                    self.table.update(
                        proc, kv_state=kv_state, kv_tokens=kv_tokens, kv_host_bytes=kv_host_bytes
                    )
            await asyncio.sleep(MONITOR_PERIOD_S)

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
