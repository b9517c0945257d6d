"""The kubernetes driver on an emulated API server (kmock): every operation, its errors, and approvals."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from pydantic import ValidationError

from aios.boot import boot
from aios.config import Settings
from aios.evals.kube_emulator import ClusterEmulator, write_kubeconfig
from aios.kernel.approvals import ApprovalPolicy
from aios.kernel.drivers import CallContext, RiskLevel
from aios.kernel.errors import ConfigError, InvalidSyscall, PermissionDenied, ToolError
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ToolResult, ToolSyscall
from aios.tools.k8s_kinds import resolve_kind
from aios.tools.kubernetes import KubernetesConfig, KubernetesDriver

from ..fakes import until

pytestmark = pytest.mark.kmock(cls=ClusterEmulator)

WEB_POD = {
    "metadata": {
        "name": "web-1",
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "blue"},
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
    },
    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], "nodeName": "node-a"},
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {"name": "app", "ready": True, "restartCount": 2, "state": {"running": {}}},
        ],
    },
}
PAIR_POD = {
    "metadata": {"name": "pair", "labels": {"app": "pair"}},
    "spec": {"containers": [{"name": "left", "image": "busybox"}, {"name": "right", "image": "busybox"}]},
    "status": {"phase": "Pending"},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        },
    },
    "status": {"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
}


def event(name: str, pod: str, reason: str, at: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
        "reason": reason,
        "message": f"{reason} for {pod}",
        "type": "Warning" if reason == "BackOff" else "Normal",
        "lastTimestamp": at,
    }


@pytest.fixture
def cluster(kmock: ClusterEmulator) -> ClusterEmulator:
    """The emulator with a small default namespace: two pods, a deployment, a service, a configmap, events."""
    kmock.add("v1/namespaces", None, {"metadata": {"name": "default"}, "status": {"phase": "Active"}})
    kmock.add("v1/namespaces", None, {"metadata": {"name": "team"}, "status": {"phase": "Active"}})
    kmock.add("v1/pods", "default", WEB_POD)
    kmock.add("v1/pods", "default", PAIR_POD)
    kmock.add("apps/v1/deployments", "default", DEPLOYMENT)
    kmock.add(
        "apps/v1/statefulsets",
        "default",
        {"metadata": {"name": "db"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 2}},
    )
    kmock.add(
        "v1/services",
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.0.0.7",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
    )
    kmock.add("v1/configmaps", "default", {"metadata": {"name": "settings"}, "data": {"mode": "fast"}})
    kmock.add("v1/events", "default", event("e2", "web-1", "BackOff", "2026-01-01T10:05:00Z"))
    kmock.add("v1/events", "default", event("e1", "web-1", "Pulled", "2026-01-01T10:00:00Z"))
    kmock.add("v1/events", "default", event("e3", "pair", "Scheduled", "2026-01-01T10:03:00Z"))
    kmock.pod_logs["default", "web-1", "app"] = "".join(f"request {i}\n" for i in range(300))
    return kmock


@pytest.fixture
def kubeconfig(cluster: ClusterEmulator, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", str(cluster.url))


@pytest.fixture
async def driver(kubeconfig: Path) -> AsyncIterator[KubernetesDriver]:
    d = KubernetesDriver(KubernetesConfig(kubeconfig=kubeconfig, max_log_bytes=1024, max_output_bytes=4096))
    yield d
    await d.close()


@pytest.fixture
def ctx(tmp_path: Path) -> CallContext:
    return CallContext(pid=1, workdir=tmp_path)


async def call(driver: KubernetesDriver, ctx: CallContext, operation: str, **arguments: Any) -> Any:
    args = driver.operations()[operation].args_model.model_validate(arguments)
    return await driver.call(operation, args, ctx)


async def preview(driver: KubernetesDriver, ctx: CallContext, operation: str, **arguments: Any) -> Any:
    args = driver.operations()[operation].args_model.model_validate(arguments)
    return await driver.preview(operation, args, ctx)


def test_operations_carry_risk_capability_and_checked_names() -> None:
    ops = KubernetesDriver().operations()
    risks = {name: op.risk for name, op in ops.items()}
    assert risks == {
        "get": RiskLevel.READ,
        "list": RiskLevel.READ,
        "describe": RiskLevel.READ,
        "logs": RiskLevel.READ,
        "events": RiskLevel.READ,
        "can_i": RiskLevel.READ,
        "apply": RiskLevel.WRITE,
        "scale": RiskLevel.WRITE,
        "rollout_restart": RiskLevel.WRITE,
        "delete": RiskLevel.DESTRUCTIVE,
        "exec": RiskLevel.DESTRUCTIVE,
    }
    assert all(op.capability == f"kubernetes.{name}" for name, op in ops.items())
    for name in ("deploy", "Deployment", "deployments", "deployments.apps", " DEPLOY "):
        assert resolve_kind(name).collection_path("team") == "/apis/apps/v1/namespaces/team/deployments"
    assert resolve_kind("ns").object_path("team", "ignored") == "/api/v1/namespaces/team"
    with pytest.raises(InvalidSyscall, match=r"unknown kind 'deployments\.batch'"):
        resolve_kind("deployments.batch")
    assert ops["get"].json_schema()["required"] == ["kind", "name"]
    for bad in ({"kind": "pod", "name": "../../secrets"}, {"kind": "pod", "name": "x", "namespace": "A b"}):
        with pytest.raises(ValidationError):
            ops["get"].args_model.model_validate(bad)
    with pytest.raises(ValidationError, match="extra"):
        ops["list"].args_model.model_validate({"kind": "pods", "verbose": True})
    with pytest.raises(ValidationError, match="extra"):
        KubernetesConfig.model_validate({"namespace": "x", "kube_config": "/tmp/k"})


async def test_get_and_list_give_compact_summaries(driver: KubernetesDriver, ctx: CallContext) -> None:
    pod = await call(driver, ctx, "get", kind="po", name="web-1")
    assert pod["kind"] == "Pod" and pod["phase"] == "Running" and pod["node"] == "node-a"
    assert pod["containers"] == [
        {"name": "app", "image": "nginx:1.27", "ready": True, "restarts": 2, "state": "running"}
    ]
    assert pod["annotations"] == {"team": "blue"} and "managedFields" not in str(pod)

    pods = await call(driver, ctx, "list", kind="pods", label_selector="app=web")
    assert [p["name"] for p in pods["items"]] == ["web-1"] and pods["namespace"] == "default"
    deployments = await call(driver, ctx, "list", kind="deploy")
    assert deployments["items"] == [
        {
            "name": "web",
            "namespace": "default",
            "replicas": 1,
            "ready": 1,
            "updated": 1,
            "available": 1,
            "images": ["nginx:1.27"],
        }
    ]
    [svc] = (await call(driver, ctx, "list", kind="svc"))["items"]
    assert svc["ports"] == ["80/TCP->8080"] and svc["selector"] == {"app": "web"}
    assert (await call(driver, ctx, "get", kind="configmap", name="settings"))["data"] == {"mode": "fast"}
    assert (await call(driver, ctx, "list", kind="statefulsets"))["items"][0]["replicas"] == 2
    namespaces = await call(driver, ctx, "list", kind="ns")
    assert {n["name"] for n in namespaces["items"]} == {"default", "team"} and "namespace" not in namespaces
    everywhere = await call(driver, ctx, "list", kind="pods", all_namespaces=True)
    assert everywhere["namespace"] == "(all)" and everywhere["count"] == 2

    with pytest.raises(InvalidSyscall, match=r"unknown kind 'widgets'; known kinds: pods \(po\)"):
        await call(driver, ctx, "get", kind="widgets", name="x")
    with pytest.raises(ToolError, match=r"get pod default/nope: 404"):
        await call(driver, ctx, "get", kind="pod", name="nope")
    pending_pods = await call(driver, ctx, "list", kind="po", field_selector="status.phase=Pending")
    assert [p["name"] for p in pending_pods["items"]] == ["pair"]
    assert (await call(driver, ctx, "list", kind="pods", namespace="team"))["items"] == []


async def test_calls_without_a_namespace_use_the_contexts_then_the_configured_one(
    cluster: ClusterEmulator, tmp_path: Path, ctx: CallContext
) -> None:
    cluster.add("v1/pods", "team", {"metadata": {"name": "team-1"}, "status": {"phase": "Running"}})
    kubeconfig = write_kubeconfig(tmp_path / "team-kubeconfig", str(cluster.url), namespace="team")
    for config, expected in (
        (KubernetesConfig(kubeconfig=kubeconfig), {"team-1"}),
        (KubernetesConfig(kubeconfig=kubeconfig, namespace="default"), {"web-1", "pair"}),
    ):
        d = KubernetesDriver(config)
        try:
            listed = await call(d, ctx, "list", kind="pods")
        finally:
            await d.close()
        assert {item["name"] for item in listed["items"]} == expected


async def test_describe_shows_the_objects_own_events_oldest_first(
    driver: KubernetesDriver, ctx: CallContext
) -> None:
    described = await call(driver, ctx, "describe", kind="pod", name="web-1")
    assert described["phase"] == "Running"
    assert [(e["reason"], e["object"]) for e in described["events"]] == [
        ("Pulled", "Pod/web-1"),
        ("BackOff", "Pod/web-1"),
    ]
    with pytest.raises(ToolError, match="deployment default/gone: 404"):
        await call(driver, ctx, "describe", kind="deployment", name="gone")


async def test_events_in_a_namespace_and_about_one_object(driver: KubernetesDriver, ctx: CallContext) -> None:
    everything = await call(driver, ctx, "events")
    assert [e["reason"] for e in everything["events"]] == ["Pulled", "Scheduled", "BackOff"]
    newest = await call(driver, ctx, "events", limit=1)
    assert [e["reason"] for e in newest["events"]] == ["BackOff"]
    about = await call(driver, ctx, "events", kind="pod", name="pair")
    assert [e["message"] for e in about["events"]] == ["Scheduled for pair"]
    with pytest.raises(InvalidSyscall, match="unknown kind 'gadget'"):
        await call(driver, ctx, "events", kind="gadget", name="pair")


async def test_logs_tail_and_cap_and_need_a_container_when_there_are_several(
    driver: KubernetesDriver, ctx: CallContext
) -> None:
    tail = await call(driver, ctx, "logs", pod="web-1", tail_lines=2)
    assert tail["text"] == "request 298\nrequest 299\n" and tail["lines"] == 2 and "truncated" not in tail
    capped = await call(driver, ctx, "logs", pod="web-1", tail_lines=300)
    assert len(capped["text"].encode()) == 1024 and capped["text"].endswith("request 299\n")
    assert "1024 bytes" in capped["truncated"]
    with pytest.raises(
        ToolError, match=r"400 BadRequest: a container name must be specified .* \['left', 'right'\]"
    ):
        await call(driver, ctx, "logs", pod="pair")
    assert (await call(driver, ctx, "logs", pod="pair", container="left"))["text"] == ""
    with pytest.raises(ToolError, match="logs of pod default/ghost: 404"):
        await call(driver, ctx, "logs", pod="ghost")


def manifest(image: str, replicas: int = 1) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: app, image: "{image}"}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: flags}}
data: {{beta: "on"}}
"""


async def test_apply_previews_a_dry_run_diff_that_changes_nothing_then_applies(
    driver: KubernetesDriver, ctx: CallContext, cluster: ClusterEmulator
) -> None:
    before = cluster.stored("apps/v1/deployments", "default", "web")
    planned = await preview(driver, ctx, "apply", manifest=manifest("nginx:1.28", replicas=3))
    [web, flags] = planned["changes"]
    assert planned["dry_run"] and web["action"] == "update" and flags["action"] == "create"
    assert "-      - image: nginx:1.27" in web["diff"] and "+      - image: nginx:1.28" in web["diff"]
    assert "-  replicas: 1" in web["diff"] and "+  replicas: 3" in web["diff"]
    assert "+  beta: 'on'" in flags["diff"]
    # the server saw the dry runs, and its store is as it was
    assert cluster.stored("apps/v1/deployments", "default", "web") == before
    assert not cluster.exists("v1/configmaps", "default", "flags")
    dry_runs = [r for r in cluster if r.params.get("dryRun") == "All"]  # a kmock view iterates its requests
    assert [r.method for r in dry_runs] == [kmock.method.PATCH, kmock.method.PATCH]

    seen = len(list(cluster))
    applied = await call(driver, ctx, "apply", manifest=manifest("nginx:1.28", replicas=3))
    assert [c["action"] for c in applied["changes"]] == ["configured", "created"]
    assert applied["changes"][0]["diff"] == web["diff"]
    stored = cluster.stored("apps/v1/deployments", "default", "web")
    assert stored["spec"]["replicas"] == 3
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert cluster.stored("v1/configmaps", "default", "flags")["data"] == {"beta": "on"}
    # every write was dry-run before it was made
    writes = [
        (r.method, r.params.get("dryRun")) for r in list(cluster)[seen:] if r.method != kmock.method.GET
    ]
    assert writes == [
        (kmock.method.PATCH, "All"),
        (kmock.method.PATCH, "All"),
        (kmock.method.PATCH, None),
        (kmock.method.PATCH, None),
    ]
    again = await call(driver, ctx, "apply", manifest=manifest("nginx:1.28", replicas=3))
    assert [c["action"] for c in again["changes"]] == ["unchanged", "unchanged"]


async def test_apply_refuses_bad_manifests_and_writes_nothing_when_a_dry_run_fails(
    driver: KubernetesDriver, ctx: CallContext, cluster: ClusterEmulator
) -> None:
    for text, problem in (
        ("kind: [", "not valid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\n", "lacks metadata.name"),
        ("apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n", "cannot apply kind 'Gizmo'"),
        ("apiVersion: v1\nkind: Deployment\nmetadata: {name: d}\n", "served as apiVersion 'apps/v1'"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team}\n", "in namespace 'team'"),
        ("---\n", "no objects"),
    ):
        with pytest.raises(InvalidSyscall, match=problem):
            await call(driver, ctx, "apply", manifest=text)
    good_then_bad = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_Valid}\n",
    ]
    with pytest.raises(ToolError, match=r"dry-run apply configmap default/Not_Valid: 422 Invalid"):
        await call(driver, ctx, "apply", manifest="---\n".join(good_then_bad))
    assert not cluster.exists("v1/configmaps", "default", "fine")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token"},
        "stringData": {"t": "hunter2"},
    }
    shown = await call(driver, ctx, "apply", manifest=secret)
    assert "+  t: hidden, 7 chars, sha256" in shown["changes"][0]["diff"] and "hunter2" not in str(shown)
    assert "hunter2" not in str(await call(driver, ctx, "get", kind="secret", name="token"))
    created = await call(
        driver, ctx, "apply", manifest={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}
    )
    assert created["changes"][0]["action"] == "created" and cluster.exists("v1/configmaps", "default", "d")


async def test_scale_and_rollout_restart(
    driver: KubernetesDriver, ctx: CallContext, cluster: ClusterEmulator
) -> None:
    planned = await preview(driver, ctx, "scale", name="web", replicas=4)
    assert planned == {
        "kind": "Deployment",
        "name": "web",
        "namespace": "default",
        "replicas_before": 1,
        "replicas": 4,
        "dry_run": True,
    }
    assert cluster.stored("apps/v1/deployments", "default", "web")["spec"]["replicas"] == 1
    scaled = await call(driver, ctx, "scale", kind="deploy", name="web", replicas=4)
    assert scaled["replicas_before"] == 1 and scaled["replicas"] == 4
    assert cluster.stored("apps/v1/deployments", "default", "web")["spec"]["replicas"] == 4
    await call(driver, ctx, "scale", kind="sts", name="db", replicas=0)
    assert cluster.stored("apps/v1/statefulsets", "default", "db")["spec"]["replicas"] == 0

    restarted = await call(driver, ctx, "rollout_restart", name="web")
    template = cluster.stored("apps/v1/deployments", "default", "web")["spec"]["template"]
    assert (
        template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == restarted["restarted_at"]
    )
    assert template["spec"]["containers"][0]["image"] == "nginx:1.27"  # the rest of the template is kept

    with pytest.raises(InvalidSyscall, match="cannot scale services"):
        await call(driver, ctx, "scale", kind="svc", name="web", replicas=2)
    with pytest.raises(InvalidSyscall, match="cannot restart configmaps"):
        await call(driver, ctx, "rollout_restart", kind="cm", name="settings")
    with pytest.raises(ToolError, match="deployment default/ghost: 404"):
        await call(driver, ctx, "scale", name="ghost", replicas=2)
    with pytest.raises(ToolError, match="restart deployment default/ghost: 404"):
        await call(driver, ctx, "rollout_restart", name="ghost")


async def test_delete_previews_then_deletes(
    driver: KubernetesDriver, ctx: CallContext, cluster: ClusterEmulator
) -> None:
    planned = await preview(driver, ctx, "delete", kind="cm", name="settings")
    assert planned == {
        "kind": "ConfigMap",
        "would_delete": {"name": "settings", "namespace": "default", "keys": ["mode"]},
    }
    assert cluster.exists("v1/configmaps", "default", "settings")
    deleted = await call(driver, ctx, "delete", kind="cm", name="settings")
    assert deleted["deleted"]["name"] == "settings"
    assert not cluster.exists("v1/configmaps", "default", "settings")
    with pytest.raises(ToolError, match="delete configmap default/settings: 404"):
        await call(driver, ctx, "delete", kind="cm", name="settings")
    failed = await preview(driver, ctx, "delete", kind="cm", name="settings")
    assert "404" in failed["dry_run_failed"]


async def test_exec_runs_a_command_over_the_channel_protocol(
    driver: KubernetesDriver, ctx: CallContext
) -> None:
    said = await call(driver, ctx, "exec", pod="web-1", command=["echo", "hello", "there"])
    assert (said["exit_code"], said["stdout"], said["stderr"]) == (0, "hello there\n", "")
    assert (await call(driver, ctx, "exec", pod="web-1", command="hostname"))["stdout"] == "web-1\n"
    failed = await call(driver, ctx, "exec", pod="web-1", command="false")
    assert failed["exit_code"] == 1
    missing = await call(driver, ctx, "exec", pod="web-1", command="bash -c 'ls /'")
    assert missing["exit_code"] == 127 and "bash: command not found" in missing["stderr"]
    flood = await call(driver, ctx, "exec", pod="web-1", command=["yes", "y"])
    assert flood["truncated"] and len(flood["stdout"]) == 4096
    assert (await preview(driver, ctx, "exec", pod="web-1", command="cat /etc/hosts"))["would_run"] == [
        "cat",
        "/etc/hosts",
    ]
    with pytest.raises(
        ToolError,
        match=r'exec in pod default/ghost: the exec stream did not open: 404 Not Found: pods "ghost" not',
    ):
        await call(driver, ctx, "exec", pod="ghost", command="hostname")
    with pytest.raises(InvalidSyscall, match="cannot split the command"):
        await call(driver, ctx, "exec", pod="web-1", command="echo 'unclosed")


async def test_can_i_asks_the_server_with_the_right_resource(
    driver: KubernetesDriver, ctx: CallContext, cluster: ClusterEmulator
) -> None:
    cluster.denied = {("delete", "namespaces"), ("patch", "deployments")}
    assert (await call(driver, ctx, "can_i", verb="get", resource="pods"))["allowed"] is True
    refused = await call(driver, ctx, "can_i", verb="delete", resource="ns", name="team")
    assert refused == {
        "allowed": False,
        "verb": "delete",
        "resource": "namespaces",
        "name": "team",
        "reason": "denied by the test policy",
    }
    patch = await call(driver, ctx, "can_i", verb="patch", resource="deploy", namespace="team")
    assert patch["allowed"] is False and patch["group"] == "apps" and patch["namespace"] == "team"
    with pytest.raises(InvalidSyscall, match="unknown kind 'spaceships'"):
        await call(driver, ctx, "can_i", verb="get", resource="spaceships")
    with pytest.raises(ValidationError):
        driver.operations()["can_i"].args_model.model_validate({"verb": "obliterate", "resource": "pods"})


async def test_health_names_the_context_or_says_what_is_missing(
    driver: KubernetesDriver,
    kubeconfig: Path,
    tmp_path: Path,
    ctx: CallContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    health = await driver.health()
    assert health.ok and "v1.26" in health.detail and "context kmock" in health.detail

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    lost = KubernetesDriver()
    health = await lost.health()
    assert not health.ok and "no kubeconfig" in health.detail and ".kube/config not found" in health.detail
    with pytest.raises(ConfigError, match="no kubeconfig"):
        await call(lost, ctx, "list", kind="pods")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert (await KubernetesDriver().health()).ok

    garbled = tmp_path / "garbled"
    garbled.write_text("clusters: [unclosed\n")
    assert (
        "cannot use kubeconfig"
        in (await KubernetesDriver(KubernetesConfig(kubeconfig=garbled)).health()).detail
    )
    wrong = KubernetesDriver(KubernetesConfig(kubeconfig=kubeconfig, context="prod"))
    assert "context 'prod'" in (await wrong.health()).detail
    with pytest.raises(ConfigError, match="context 'prod'"):
        await wrong.open()


async def test_an_unreachable_server_is_a_clear_tool_error(tmp_path: Path, ctx: CallContext) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "closed", f"http://127.0.0.1:{port}")
    driver = KubernetesDriver(KubernetesConfig(kubeconfig=kubeconfig, request_timeout_s=2))
    try:
        with pytest.raises(ToolError, match=f"cannot reach the API server at http://127.0.0.1:{port}"):
            await call(driver, ctx, "get", kind="pod", name="web-1")
        assert not (await driver.health()).ok
    finally:
        await driver.close()


# ---- through the kernel: a namespace deletion waits for a human ------------------------------------


async def delete_namespace(kernel: Kernel, outcome: dict[str, object]) -> int:
    async def program(pid: int) -> str:
        try:
            outcome["result"] = await kernel.syscall(
                pid, ToolSyscall(name="kubernetes.delete", arguments={"kind": "ns", "name": "team"})
            )
        except PermissionDenied as e:
            outcome["denied"] = str(e)
        return "ok"

    return await kernel.spawn(program, agent="ops", task="delete team", capabilities=["kubernetes.*"])


async def pending(kernel: Kernel, pid: int) -> int:
    await until(lambda: kernel.process(pid).state == ProcessState.BLOCKED_APPROVAL, "the approval request")
    [request] = kernel.store.list_approvals()
    assert request.tool == "kubernetes.delete" and request.risk == "destructive"
    return request.id


async def test_deleting_a_namespace_waits_for_approval(
    kernel: Kernel, driver: KubernetesDriver, cluster: ClusterEmulator
) -> None:
    kernel.drivers[driver.name] = driver
    denied: dict[str, object] = {}
    pid = await delete_namespace(kernel, denied)
    await kernel.decide(await pending(kernel, pid), False, by="alice", reason="team still uses it")
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert "team still uses it" in str(denied["denied"])
    assert cluster.exists("v1/namespaces", None, "team")

    approved: dict[str, object] = {}
    pid = await delete_namespace(kernel, approved)
    approval = await pending(kernel, pid)
    assert cluster.exists("v1/namespaces", None, "team")
    await kernel.decide(approval, True, by="alice")
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert "denied" not in approved and not cluster.exists("v1/namespaces", None, "team")


async def test_an_unanswered_approval_expires_and_the_namespace_survives(
    settings: Settings, tmp_path: Path, driver: KubernetesDriver, cluster: ClusterEmulator
) -> None:
    settings.approvals = ApprovalPolicy(timeout_s=0.3)
    kernel = await boot(settings, cwd=tmp_path)
    try:
        kernel.drivers[driver.name] = driver
        outcome: dict[str, object] = {}
        pid = await delete_namespace(kernel, outcome)
        assert (await kernel.wait(pid)).state == ProcessState.DONE
        assert "expired" in str(outcome["denied"])
        assert cluster.exists("v1/namespaces", None, "team")

        async def look(pid: int) -> str:
            """A read needs no approval."""
            found = await kernel.syscall(
                pid, ToolSyscall(name="kubernetes.get", arguments={"kind": "ns", "name": "team"})
            )
            assert isinstance(found, ToolResult)
            return str(found.output["phase"])

        record = await kernel.wait(
            await kernel.spawn(look, agent="ops", task="look", capabilities=["kubernetes.get"])
        )
        assert record.state == ProcessState.DONE and record.result == "Active"
    finally:
        await kernel.shutdown(close_engines=True)
