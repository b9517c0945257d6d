"""Prometheus metrics of the kernel, counted from its events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from aios.api.auth import Admin
from aios.api.families import Routes, family
from aios.kernel.contracts import KernelAPI
from aios.kernel.events import KernelEvent

router = APIRouter(tags=["system"])


class KernelMetrics:
    """Counters fed by kernel events; one registry per daemon (not the process-global one)."""

    def __init__(self, kernel: KernelAPI) -> None:
        self.registry = CollectorRegistry()
        self.syscalls = Counter(
            "aios_syscalls",
            "Syscalls finished, by kind and outcome",
            ["kind", "status"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "aios_llm_tokens", "LLM tokens, by direction", ["direction"], registry=self.registry
        )
        self.spawned = Counter(
            "aios_processes_spawned", "Processes started or resumed", registry=self.registry
        )
        self.exits = Counter(
            "aios_process_exits", "Processes ended, by state", ["state"], registry=self.registry
        )
        self.running = Gauge("aios_processes_running", "Processes not yet ended", registry=self.registry)
        self.approvals = Counter(
            "aios_approvals", "Approval requests and decisions", ["event"], registry=self.registry
        )
        self._unsubscribe = kernel.subscribe(self._on_event)

    def _on_event(self, event: KernelEvent) -> None:
        if event.kind == "syscall_finished":
            self.syscalls.labels(event.syscall or "", event.status or "").inc()
            if event.syscall == "llm" and event.status == "ok":
                self.tokens.labels("in").inc(event.detail.get("prompt_tokens", 0))
                self.tokens.labels("out").inc(event.detail.get("completion_tokens", 0))
        elif event.kind in ("spawned", "resumed"):
            self.spawned.inc()
            self.running.inc()
        elif event.kind == "exited":
            self.exits.labels(event.status or "").inc()
            self.running.dec()
        elif event.kind in ("approval_requested", "approval_decided"):
            self.approvals.labels(event.status or event.kind.removeprefix("approval_")).inc()

    def close(self) -> None:
        self._unsubscribe()


class Metrics(Routes, router=router):
    """`/metrics`, counted from the daemon's `KernelMetrics` (closed after the kernel's last events)."""

    def __init__(self, counters: KernelMetrics) -> None:
        self.counters = counters


@router.get("/metrics", summary="Prometheus metrics (admin token)", response_class=Response)
async def metrics(_who: Admin, state: Annotated[Metrics, Depends(family(Metrics))]) -> Response:
    return Response(generate_latest(state.counters.registry), media_type=CONTENT_TYPE_LATEST)
