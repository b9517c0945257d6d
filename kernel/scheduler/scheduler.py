"""The one scheduler: which LLM calls start, continue, are preempted or wait for KV room.

Plan, then apply (as vLLM's v1 scheduler does): `schedule(now)` does no I/O; it reads the engines'
capacities, the calls waiting and running, and the policy's order, and returns a `SchedulePlan`. The
dispatcher applies it and reports back with `on_yield` and `on_finish`.

Per engine, every call holding a slot counts against `max_running`, and its whole footprint (prompt plus
everything it may generate) against the engine's shared KV cells, so an admitted call never runs out of
room and a call that would not fit waits without touching the engine. A call whose slice of tokens is
spent competes again with the waiting calls: kept if it still comes first, else preempted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aios.kernel.engines.interface import EngineCapacity
from aios.kernel.scheduler.interface import QueuedCall, SchedulerPolicy
from aios.kernel.scheduler.plan import Run, SchedulePlan

BACKGROUND_AGING_S = 30.0
"""Background calls (the memory pager) run when no other call waits, or once they have waited this long."""


@dataclass(kw_only=True)
class _EngineLoad:
    capacity: EngineCapacity
    running: list[QueuedCall] = field(default_factory=list)
    """Calls holding a slot: generating, or yielded and waiting for the next plan."""


class Scheduler:
    def __init__(self, policy: SchedulerPolicy, *, background_aging_s: float = BACKGROUND_AGING_S) -> None:
        self.policy = policy
        self.background_aging_s = background_aging_s
        self._engines: dict[str, _EngineLoad] = {}
        self._waiting: list[QueuedCall] = []
        self._yielded: set[QueuedCall] = set()
        self._last_served: dict[int, int] = {}  # pid -> tick of its latest start or resume
        self._tick = 0

    # ---- what the dispatcher reports -----------------------------------------------------------------

    def add_engine(self, name: str, capacity: EngineCapacity) -> None:
        if name not in self._engines:
            self._engines[name] = _EngineLoad(capacity=capacity)

    def submit(self, call: QueuedCall) -> None:
        """A call is ready to run."""
        assert call.engine in self._engines, f"engine {call.engine!r} has no capacity registered"
        self._waiting.append(call)

    def on_yield(self, call: QueuedCall) -> None:
        """A running call spent its token budget; the next plan continues or preempts it."""
        assert call in self._engines[call.engine].running, "only a running call can yield"
        self._yielded.add(call)

    def on_finish(self, call: QueuedCall) -> None:
        """A running call ended (result, error or cancellation): its slot and cells are free."""
        running = self._engines[call.engine].running
        if call in running:
            running.remove(call)
        self._yielded.discard(call)

    def withdraw(self, call: QueuedCall) -> bool:
        """Take one call out, waiting or paused between slices (its caller gave up); False if running."""
        if call in self._waiting:
            self._waiting.remove(call)
            return True
        if call in self._yielded:
            self.on_finish(call)
            return True
        return False

    def remove(self, pid: int) -> list[QueuedCall]:
        """Take a killed process's calls out: the waiting ones and any paused between slices."""
        removed = [c for c in self._waiting if c.pid == pid]
        self._waiting = [c for c in self._waiting if c.pid != pid]
        for call in [c for c in self._yielded if c.pid == pid]:
            self.on_finish(call)
            removed.append(call)
        self._last_served.pop(pid, None)
        return removed

    # ---- views -------------------------------------------------------------------------------------

    def waiting(self, engine: str | None = None) -> list[QueuedCall]:
        return [c for c in self._waiting if engine is None or c.engine == engine]

    def running(self, engine: str) -> list[QueuedCall]:
        load = self._engines.get(engine)
        return list(load.running) if load else []

    def next_aging_in(self, now: float) -> float | None:
        """Seconds until a waiting background call ages into the foreground (None: none waits)."""
        ages = [c.enqueued_at + self.background_aging_s - now for c in self._waiting if c.background]
        return max(0.0, min(ages)) if ages else None

    # ---- planning ----------------------------------------------------------------------------------

    def schedule(self, now: float) -> SchedulePlan:
        """Decide, engine by engine, and move the chosen calls to running (no I/O)."""
        plan = SchedulePlan()
        for name, load in self._engines.items():
            yielded = [c for c in load.running if c in self._yielded]
            waiting = [c for c in self._waiting if c.engine == name]
            if yielded or waiting:
                self._plan_engine(load, yielded, waiting, now, plan)
        return plan

    def _plan_engine(
        self,
        load: _EngineLoad,
        yielded: list[QueuedCall],
        waiting: list[QueuedCall],
        now: float,
        plan: SchedulePlan,
    ) -> None:
        busy = [c for c in load.running if c not in self._yielded]
        free_slots = load.capacity.max_running - len(busy)
        kv_cells = load.capacity.kv_cells
        free_cells = None if kv_cells is None else kv_cells - sum(c.cells_needed for c in busy)
        chosen: list[QueuedCall] = []
        for call in self._order([*yielded, *waiting], now):
            if free_slots <= 0:
                break
            if free_cells is not None and call.cells_needed > free_cells:
                plan.wait_for_kv.append(call)
                break  # strict order: a large call is not overtaken forever by small ones
            chosen.append(call)
            free_slots -= 1
            if free_cells is not None:
                free_cells -= call.cells_needed
        budget = self.policy.slice_tokens
        for call in chosen:
            self._tick += 1
            self._last_served[call.pid] = self._tick
            if call in self._yielded:
                self._yielded.discard(call)
                plan.resume.append(Run(call=call, budget_tokens=budget))
            else:
                self._waiting.remove(call)
                load.running.append(call)
                plan.start.append(Run(call=call, budget_tokens=budget))
        for call in yielded:
            if call not in chosen:
                self._yielded.discard(call)
                load.running.remove(call)
                call.preempted = True
                self._waiting.append(call)
                plan.preempt.append(call)

    def _order(self, calls: list[QueuedCall], now: float) -> list[QueuedCall]:
        """Foreground calls in the policy's order; background calls after them unless they have aged."""
        foreground = [c for c in calls if not c.background]
        background = sorted((c for c in calls if c.background), key=lambda c: c.seq)
        aged = [c for c in background if now - c.enqueued_at >= self.background_aging_s]
        fresh = [c for c in background if c not in aged]
        key = self.policy.sort_key
        return [*aged, *sorted(foreground, key=lambda c: key(c, now, self._last_served)), *fresh]
