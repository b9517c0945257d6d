"""The k8s agent on an emulated cluster: its loop on a scripted engine, and a run on the embedded model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aios.agent_launch import spawn_agent
from aios.agents.k8s import K8sAgent, describe_cluster_output
from aios.evals.kube_emulator import ClusterEmulator, write_kubeconfig
from aios.kernel.approvals import ApprovalPolicy
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.kubernetes import KubernetesConfig, KubernetesDriver

from ..fakes import FakeEngine

pytestmark = pytest.mark.kmock(cls=ClusterEmulator)

READS = ["llm", *(f"kubernetes.{op}" for op in ("get", "list", "describe", "logs", "events", "can_i"))]


@pytest.fixture
async def driver(kmock: ClusterEmulator, tmp_path: Path) -> AsyncIterator[KubernetesDriver]:
    kmock.add(
        "v1/pods",
        "default",
        {
            "metadata": {"name": "web-1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            "status": {"phase": "Running"},
        },
    )
    kmock.add("v1/namespaces", None, {"metadata": {"name": "default"}, "status": {"phase": "Active"}})
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(kmock.url))
    d = KubernetesDriver(KubernetesConfig(kubeconfig=kubeconfig))
    yield d
    await d.close()


def test_observations_are_short_lines() -> None:
    text = describe_cluster_output(
        {
            "kind": "pods",
            "count": 1,
            "items": [{"name": "web-1", "namespace": "default", "phase": "Running", "labels": {}}],
        }
    )
    assert text == "kind: pods\ncount: 1\nitems (1):\n- name=web-1, namespace=default, phase=Running"
    logs = describe_cluster_output({"pod": "web-1", "text": "GET /\nGET /health\n"})
    assert logs == "pod: web-1\ntext:\nGET /\nGET /health\n"


async def test_a_scripted_run_reads_the_cluster_and_a_denied_delete_is_not_retried(
    kernel: Kernel, driver: KubernetesDriver, kmock: ClusterEmulator
) -> None:
    kernel.drivers[driver.name] = driver
    kernel.approval_policy = ApprovalPolicy(destructive="deny")
    delete = ("kubernetes.delete", {"kind": "pod", "name": "web-1"})
    engine = FakeEngine(
        calls=[("kubernetes.list", {"kind": "pods"}), delete, delete], answer="web-1 is running"
    )
    kernel.engines.register("local", engine)
    pid = await spawn_agent(kernel, K8sAgent, "Is web running? Then delete web-1.")
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "web-1 is running"
    observations = [m.content for m in engine.requests[-1].messages if m.role == "tool"]
    assert "kind: pods\ncount: 1\nnamespace: default\nitems (1):\n- name=web-1" in observations[0]
    assert "denied by policy" in observations[1] and "failed before; stopping" in observations[2]
    assert kmock.exists("v1/pods", "default", "web-1")


@pytest.mark.model
async def test_k8s_on_the_embedded_model_makes_valid_cluster_calls(
    model_kernel: Kernel, driver: KubernetesDriver, kmock: ClusterEmulator
) -> None:
    model_kernel.drivers[driver.name] = driver
    model_kernel.approval_policy = ApprovalPolicy(write="deny", destructive="deny")
    pid = await spawn_agent(
        model_kernel, K8sAgent, "List the pods in the default namespace.", capabilities=READS
    )
    record = await asyncio.wait_for(model_kernel.wait(pid), timeout=240)
    assert record.state == ProcessState.DONE, record.error
    await asyncio.to_thread(model_kernel.store.flush)
    tools = [r for r in model_kernel.store.audit(pid=pid) if r.kind == "tool"]
    assert tools and all(r.target.startswith("kubernetes.") for r in tools), tools
    # a schema-valid call reached the driver, which asked the API server
    assert list(kmock), "the driver never reached the emulated API server"
