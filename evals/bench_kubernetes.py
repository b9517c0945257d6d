"""Latency of each kubernetes driver operation against the kmock-emulated API server on 127.0.0.1.

No cluster is needed: the emulator (`aios.evals.kube_emulator`) serves the real HTTP API and the exec
websocket; the driver runs unchanged through the
official client, so the numbers are the driver's own cost plus one loopback round trip per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aios.evals.kube_emulator import serve
from aios.kernel.drivers import CallContext
from aios.tools.kubernetes import KubernetesConfig, KubernetesDriver

NAMESPACE = "bench"


def _deployment(image: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


async def bench_kubernetes(runs: int, workdir: Path) -> dict[str, list[float]]:
    """Run every operation `runs` times; operation -> latencies in milliseconds."""
    folder = workdir / "bench_kubernetes"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        async with serve(folder) as (cluster, kubeconfig):
            cluster.add(
                "v1/namespaces", None, {"metadata": {"name": NAMESPACE}, "status": {"phase": "Active"}}
            )
            cluster.add(
                "v1/pods",
                NAMESPACE,
                {
                    "metadata": {"name": "web-1", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                    "status": {"phase": "Running"},
                },
            )
            cluster.pod_logs[NAMESPACE, "web-1", "app"] = "".join(f"request {i}\n" for i in range(1000))
            driver = KubernetesDriver(KubernetesConfig(kubeconfig=kubeconfig, namespace=NAMESPACE))
            try:
                return await _measure(driver, CallContext(pid=0, workdir=folder), runs)
            finally:
                await driver.close()
    finally:
        (folder / "kubeconfig").unlink(missing_ok=True)
        folder.rmdir()


async def _measure(driver: KubernetesDriver, ctx: CallContext, runs: int) -> dict[str, list[float]]:
    ops = driver.operations()

    async def call(operation: str, **arguments: Any) -> Any:
        return await driver.call(operation, ops[operation].args_model.model_validate(arguments), ctx)

    await call("apply", manifest=_deployment("nginx:1.0", 1))
    steps: dict[str, Callable[[int], Awaitable[Any]]] = {
        "get": lambda i: call("get", kind="deploy", name="web"),
        "list": lambda i: call("list", kind="pods", label_selector="app=web"),
        "describe": lambda i: call("describe", kind="pod", name="web-1"),
        "logs": lambda i: call("logs", pod="web-1", tail_lines=100),
        "events": lambda i: call("events"),
        "can_i": lambda i: call("can_i", verb="delete", resource="pods"),
        # a changed image each run: get, dry run, diff and write every time
        "apply": lambda i: call("apply", manifest=_deployment(f"nginx:1.{i + 1}", 1)),
        "scale": lambda i: call("scale", name="web", replicas=2 + i % 2),
        "rollout_restart": lambda i: call("rollout_restart", name="web"),
        "exec": lambda i: call("exec", pod="web-1", command=["echo", "ready"]),
    }
    latencies: dict[str, list[float]] = {name: [] for name in [*steps, "delete"]}
    for i in range(runs):
        for name, step in steps.items():
            started = time.perf_counter()
            await step(i)
            latencies[name].append((time.perf_counter() - started) * 1000)
        victim = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"victim-{i}"}}
        await call("apply", manifest=victim)
        started = time.perf_counter()
        await call("delete", kind="cm", name=f"victim-{i}")
        latencies["delete"].append((time.perf_counter() - started) * 1000)
    await call("delete", kind="deploy", name="web")
    return latencies
