"""The kubernetes driver on a real cluster, in a throwaway namespace; runs only where a kubeconfig exists."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aios.kernel.drivers import CallContext
from aios.kernel.errors import ToolError
from aios.tools.kubernetes import KubernetesDriver


def _kubeconfig() -> str | None:
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.exists() else None


pytestmark = pytest.mark.skipif(
    _kubeconfig() is None,
    reason="no cluster: KUBECONFIG is unset and ~/.kube/config is missing (kmock tests cover the driver)",
)


@pytest.fixture
async def driver() -> AsyncIterator[KubernetesDriver]:
    d = KubernetesDriver()
    yield d
    await d.close()


@pytest.fixture
def ctx(tmp_path: Path) -> CallContext:
    return CallContext(pid=1, workdir=tmp_path)


async def call(driver: KubernetesDriver, ctx: CallContext, operation: str, **arguments: Any) -> Any:
    args = driver.operations()[operation].args_model.model_validate(arguments)
    return await driver.call(operation, args, ctx)


def workload(namespace: str, mode: str) -> str:
    """A config map and a deployment of no replicas (nothing to pull until it is scaled)."""
    return f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: aios-settings, namespace: {namespace}}}
data: {{mode: {mode}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: aios-web, namespace: {namespace}, labels: {{app: aios-web}}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: aios-web}}}}
  template:
    metadata: {{labels: {{app: aios-web}}}}
    spec:
      containers: [{{name: pause, image: "registry.k8s.io/pause:3.9"}}]
"""


async def test_the_driver_on_a_real_cluster(driver: KubernetesDriver, ctx: CallContext) -> None:
    health = await driver.health()
    assert health.ok, health.detail
    namespace = f"aios-test-{uuid.uuid4().hex[:8]}"
    namespace_manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    created = await call(driver, ctx, "apply", manifest=namespace_manifest)
    assert created["changes"][0]["action"] == "created"
    try:
        assert (await call(driver, ctx, "can_i", verb="get", resource="pods", namespace=namespace))["allowed"]
        applied = await call(driver, ctx, "apply", manifest=workload(namespace, "fast"), namespace=namespace)
        assert [c["action"] for c in applied["changes"]] == ["created", "created"]
        changed = await call(driver, ctx, "apply", manifest=workload(namespace, "safe"), namespace=namespace)
        assert [c["action"] for c in changed["changes"]] == ["configured", "unchanged"]
        assert "-  mode: fast" in changed["changes"][0]["diff"]

        settings = await call(driver, ctx, "get", kind="cm", name="aios-settings", namespace=namespace)
        assert settings["data"] == {"mode": "safe"}
        listed = await call(
            driver, ctx, "list", kind="deploy", namespace=namespace, label_selector="app=aios-web"
        )
        assert [d["name"] for d in listed["items"]] == ["aios-web"]
        described = await call(
            driver, ctx, "describe", kind="deployment", name="aios-web", namespace=namespace
        )
        assert described["replicas"] == 0 and isinstance(described["events"], list)
        assert isinstance((await call(driver, ctx, "events", namespace=namespace))["events"], list)

        scaled = await call(driver, ctx, "scale", name="aios-web", replicas=1, namespace=namespace)
        assert (scaled["replicas_before"], scaled["replicas"]) == (0, 1)
        await call(driver, ctx, "rollout_restart", name="aios-web", namespace=namespace)
        template = (await call(driver, ctx, "get", kind="deploy", name="aios-web", namespace=namespace))[
            "spec"
        ]
        assert "kubectl.kubernetes.io/restartedAt" in template["template"]["metadata"]["annotations"]

        with pytest.raises(ToolError, match="404"):
            await call(driver, ctx, "logs", pod="no-such-pod", namespace=namespace)
        with pytest.raises(ToolError, match="exec in pod"):
            await call(driver, ctx, "exec", pod="no-such-pod", namespace=namespace, command="true")
        deleted = await call(driver, ctx, "delete", kind="cm", name="aios-settings", namespace=namespace)
        assert deleted["deleted"]["name"] == "aios-settings"
    finally:
        await call(driver, ctx, "delete", kind="ns", name=namespace)
