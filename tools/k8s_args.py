"""Arguments of the kubernetes operations, as the model sees them (names checked before any request)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
"""An object name (DNS subdomain), so a name can never reach outside its own URL path segment."""
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

KIND = (
    "Resource type: pods, deployments, services, configmaps, namespaces, statefulsets, events, ... "
    "(po, deploy, svc, cm, ns, sts)."
)
NAMESPACE = (
    "Namespace; the configured default when left out. Ignored for cluster-wide kinds (namespaces, nodes)."
)

Verb = Literal["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]


def _name(description: str) -> Any:
    return Field(min_length=1, max_length=253, pattern=NAME_PATTERN, description=description)


def _namespace() -> Any:
    return Field(default=None, min_length=1, max_length=63, pattern=NAMESPACE_PATTERN, description=NAMESPACE)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GetArgs(_Args):
    """Arguments of `kubernetes.get` and `kubernetes.describe`."""

    kind: str = Field(min_length=1, max_length=63, description=KIND)
    name: str = _name("Object name.")
    namespace: str | None = _namespace()


class ListArgs(_Args):
    """Arguments of `kubernetes.list`."""

    kind: str = Field(min_length=1, max_length=63, description=KIND)
    namespace: str | None = _namespace()
    all_namespaces: bool = Field(default=False, description="List across every namespace.")
    label_selector: str | None = Field(
        default=None, max_length=500, description="For example app=web,tier!=db."
    )
    field_selector: str | None = Field(
        default=None, max_length=500, description="For example status.phase=Running."
    )


class LogsArgs(_Args):
    """Arguments of `kubernetes.logs`."""

    pod: str = _name("Pod name.")
    namespace: str | None = _namespace()
    container: str | None = Field(default=None, max_length=63, description="Needed when the pod has several.")
    tail_lines: int = Field(default=100, ge=1, le=5000, description="How many of the last lines.")
    previous: bool = Field(default=False, description="Logs of the previous, crashed container instance.")


class EventsArgs(_Args):
    """Arguments of `kubernetes.events`."""

    namespace: str | None = _namespace()
    kind: str | None = Field(
        default=None, max_length=63, description="Only events about this kind of object."
    )
    name: str | None = Field(
        default=None, max_length=253, pattern=NAME_PATTERN, description="Only events about this object."
    )
    limit: int = Field(default=20, ge=1, le=200, description="How many of the newest events.")


class ApplyArgs(_Args):
    """Arguments of `kubernetes.apply`."""

    manifest: str | dict[str, Any] = Field(
        description="The desired object(s): YAML text (several documents allowed) or one object as JSON."
    )
    namespace: str | None = _namespace()


class ScaleArgs(_Args):
    """Arguments of `kubernetes.scale`."""

    kind: str = Field(default="deployment", max_length=63, description="deployments or statefulsets.")
    name: str = _name("Deployment or statefulset name.")
    replicas: int = Field(ge=0, le=1000, description="Desired number of replicas.")
    namespace: str | None = _namespace()


class RolloutRestartArgs(_Args):
    """Arguments of `kubernetes.rollout_restart`."""

    kind: str = Field(
        default="deployment", max_length=63, description="deployments, statefulsets or daemonsets."
    )
    name: str = _name("Workload name.")
    namespace: str | None = _namespace()


class DeleteArgs(_Args):
    """Arguments of `kubernetes.delete`."""

    kind: str = Field(min_length=1, max_length=63, description=KIND)
    name: str = _name("Object name.")
    namespace: str | None = _namespace()
    grace_period_seconds: int | None = Field(default=None, ge=0, le=3600)


class ExecArgs(_Args):
    """Arguments of `kubernetes.exec`."""

    pod: str = _name("Pod name.")
    command: list[str] | str = Field(
        description='Program and arguments, e.g. ["cat", "/etc/hostname"]; a string is split like a shell.'
    )
    namespace: str | None = _namespace()
    container: str | None = Field(default=None, max_length=63, description="Needed when the pod has several.")


class CanIArgs(_Args):
    """Arguments of `kubernetes.can_i`."""

    verb: Verb
    resource: str = Field(min_length=1, max_length=63, description=KIND)
    namespace: str | None = _namespace()
    name: str | None = Field(default=None, max_length=253, pattern=NAME_PATTERN)
