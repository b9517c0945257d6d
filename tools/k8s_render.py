"""Kubernetes objects as compact JSON for a model: names, labels and status summaries, never managedFields."""

from __future__ import annotations

import copy
import difflib
import hashlib
from collections.abc import Callable
from typing import Any

import yaml

from aios.tools.k8s_kinds import Kind

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
NOISE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
"""Metadata the server rewrites on every change; left out of diffs so they show what the user changes."""
STRING_CHARS = 500
"""Longest string value kept in `get` output (a config file in a ConfigMap); the rest is cut."""

Obj = dict[str, Any]


def clean(obj: Obj) -> Obj:
    """The object without what only the server reads: managedFields, selfLink, kubectl's last-applied copy."""
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    meta.pop("managedFields", None)
    meta.pop("selfLink", None)
    annotations = meta.get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if not annotations:
        meta.pop("annotations", None)
    return out


def summary(obj: Obj, kind: Kind) -> Obj:
    """One line's worth of an object: what `kubectl get` shows."""
    meta = obj.get("metadata") or {}
    out: Obj = {"name": meta.get("name")}
    if kind.namespaced:
        out["namespace"] = meta.get("namespace")
    if meta.get("deletionTimestamp"):
        out["deleting"] = True
    out.update(SUMMARIES.get(kind.plural, lambda _: {})(obj))
    return out


def detail(obj: Obj, kind: Kind) -> Obj:
    """What `get` shows: the summary, labels, annotations, owners and the spec (long strings cut)."""
    obj = clean(obj)
    meta = obj.get("metadata") or {}
    out: Obj = {"kind": kind.kind, **summary(obj, kind)}
    for key in ("labels", "annotations"):
        if meta.get(key):
            out[key] = meta[key]
    if meta.get("creationTimestamp"):
        out["created"] = meta["creationTimestamp"]
    owners = [f"{o.get('kind')}/{o.get('name')}" for o in meta.get("ownerReferences") or []]
    if owners:
        out["owners"] = owners
    if kind.plural == "secrets":
        return out  # the keys are in the summary; values never reach the model
    for key in ("spec", "data"):
        if obj.get(key):
            out[key] = cap_strings(obj[key], STRING_CHARS)
    return out


def event_line(event: Obj) -> Obj:
    """An event as one record: when, type, reason, the object it is about, and the message."""
    involved = event.get("involvedObject") or {}
    meta = event.get("metadata") or {}
    out: Obj = {
        "last_seen": event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp"),
        "type": event.get("type"),
        "reason": event.get("reason"),
        "object": f"{involved.get('kind')}/{involved.get('name')}",
        "message": (event.get("message") or "").strip(),
    }
    if (event.get("count") or 1) > 1:
        out["count"] = event["count"]
    return out


def sort_events(events: list[Obj]) -> list[Obj]:
    """Oldest first, so the newest is last, as `kubectl get events` lists them."""
    return sorted(events, key=lambda e: str(event_line(e)["last_seen"] or ""))


def object_diff(live: Obj | None, proposed: Obj, *, name: str, max_lines: int) -> str:
    """A unified diff of the live object and the server's dry-run result, without server bookkeeping."""
    before = _comparable(live) if live is not None else ""
    after = _comparable(proposed)
    lines = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"live/{name}", f"proposed/{name}", lineterm=""
        )
    )
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... {len(lines) - max_lines} more lines"]
    return "\n".join(lines)


def _comparable(obj: Obj) -> str:
    out = clean(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in NOISE_METADATA:
        meta.pop(key, None)
    if out.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(out.get(key), dict):
                out[key] = {name: _fingerprint(value) for name, value in out[key].items()}
    return yaml.safe_dump(out, sort_keys=True, default_flow_style=False)


def _fingerprint(value: Any) -> str:
    """A secret value as its length and a short hash: a diff shows that it changed, never what it is."""
    text = str(value)
    return f"hidden, {len(text)} chars, sha256 {hashlib.sha256(text.encode()).hexdigest()[:12]}"


def cap_strings(value: Any, limit: int) -> Any:
    """A copy with every string longer than `limit` cut, marked with how much was left out."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... [{len(value) - limit} more characters]"
    if isinstance(value, dict):
        return {k: cap_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [cap_strings(v, limit) for v in value]
    return value


# ---- status summaries by kind -------------------------------------------------------------------


def _pod(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
    containers = []
    for container in spec.get("containers") or []:
        seen = statuses.get(container.get("name"), {})
        containers.append(
            {
                "name": container.get("name"),
                "image": container.get("image"),
                "ready": bool(seen.get("ready")),
                "restarts": seen.get("restartCount", 0),
                "state": _container_state(seen.get("state") or {}),
            }
        )
    out: Obj = {"phase": status.get("phase", "Unknown"), "containers": containers}
    if spec.get("nodeName"):
        out["node"] = spec["nodeName"]
    if status.get("podIP"):
        out["ip"] = status["podIP"]
    if status.get("reason"):
        out["reason"] = status["reason"]
    return out


def _container_state(state: Obj) -> str:
    if "running" in state:
        return "running"
    if "waiting" in state:
        return f"waiting: {state['waiting'].get('reason', '')}".rstrip(": ")
    if "terminated" in state:
        done = state["terminated"]
        return f"terminated: {done.get('reason', '')} (exit {done.get('exitCode')})"
    return "unknown"


def _images(obj: Obj) -> list[str]:
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c.get("image") for c in template.get("containers") or []]


def _replicated(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    out: Obj = {
        "replicas": spec.get("replicas", 1),
        "ready": status.get("readyReplicas", 0),
        "updated": status.get("updatedReplicas", 0),
        "available": status.get("availableReplicas", 0),
        "images": _images(obj),
    }
    failing = [
        f"{c.get('type')}: {c.get('reason')} {c.get('message', '')}".strip()
        for c in status.get("conditions") or []
        if c.get("status") == "False"
    ]
    if failing:
        out["failing_conditions"] = failing
    return out


def _daemonset(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    return {
        "desired": status.get("desiredNumberScheduled", 0),
        "ready": status.get("numberReady", 0),
        "images": _images(obj),
    }


def _service(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    ports = [
        f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        + (f"->{p['targetPort']}" if p.get("targetPort") not in (None, p.get("port")) else "")
        for p in spec.get("ports") or []
    ]
    return {
        "type": spec.get("type", "ClusterIP"),
        "cluster_ip": spec.get("clusterIP"),
        "ports": ports,
        "selector": spec.get("selector") or {},
    }


def _keys(obj: Obj) -> Obj:
    return {"keys": sorted({*(obj.get("data") or {}), *(obj.get("binaryData") or {})})}


def _secret(obj: Obj) -> Obj:
    return {"type": obj.get("type", "Opaque"), **_keys(obj)}


def _phase(obj: Obj) -> Obj:
    return {"phase": (obj.get("status") or {}).get("phase", "Unknown")}


def _node(obj: Obj) -> Obj:
    status = obj.get("status") or {}
    ready = [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    roles = sorted(
        label.split("/", 1)[1]
        for label in (obj.get("metadata") or {}).get("labels") or {}
        if label.startswith("node-role.kubernetes.io/")
    )
    return {
        "ready": ready == ["True"],
        "roles": roles,
        "version": (status.get("nodeInfo") or {}).get("kubeletVersion"),
    }


def _job(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "completions": spec.get("completions", 1),
        "succeeded": status.get("succeeded", 0),
        "failed": status.get("failed", 0),
        "active": status.get("active", 0),
    }


def _cronjob(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "schedule": spec.get("schedule"),
        "suspend": bool(spec.get("suspend")),
        "last_schedule": status.get("lastScheduleTime"),
    }


def _ingress(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    return {"class": spec.get("ingressClassName"), "hosts": [r.get("host") for r in spec.get("rules") or []]}


def _pvc(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "phase": status.get("phase", "Unknown"),
        "capacity": (status.get("capacity") or {}).get("storage"),
        "storage_class": spec.get("storageClassName"),
    }


SUMMARIES: dict[str, Callable[[Obj], Obj]] = {
    "pods": _pod,
    "deployments": _replicated,
    "statefulsets": _replicated,
    "replicasets": _replicated,
    "daemonsets": _daemonset,
    "services": _service,
    "configmaps": _keys,
    "secrets": _secret,
    "namespaces": _phase,
    "nodes": _node,
    "jobs": _job,
    "cronjobs": _cronjob,
    "ingresses": _ingress,
    "persistentvolumeclaims": _pvc,
    "events": event_line,
}
"""Plural -> status summary; kinds without one (service accounts) show name and namespace only."""
