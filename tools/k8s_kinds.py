"""The kinds the kubernetes driver knows, and the API path of each: no discovery round trip per call."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from aios.kernel.errors import InvalidSyscall


@dataclass(frozen=True, kw_only=True)
class Kind:
    """One resource type: its kind, where it lives in the API, and the names people call it by."""

    kind: str
    group: str
    """API group; "" for the core group (`/api/v1`)."""
    version: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this kind answers to, lower case (kind, plural, short names)."""
        return (self.kind.lower(), self.plural, *self.short_names)

    def collection_path(self, namespace: str | None) -> str:
        """`/apis/apps/v1/namespaces/team/deployments`; without a namespace, across all of them."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            return f"{root}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{root}/{self.plural}"

    def object_path(self, name: str, namespace: str | None, subresource: str = "") -> str:
        path = f"{self.collection_path(namespace)}/{quote(name, safe='')}"
        return f"{path}/{subresource}" if subresource else path

    def label(self, name: str | None = None, namespace: str | None = None) -> str:
        """How errors and outputs name an object: `deployment team/web`, `namespace team`."""
        where = f"{namespace}/" if self.namespaced and namespace else ""
        return f"{self.kind.lower()} {where}{name}" if name else self.plural


KINDS: tuple[Kind, ...] = (
    Kind(kind="Pod", group="", version="v1", plural="pods", namespaced=True, short_names=("po",)),
    Kind(kind="Service", group="", version="v1", plural="services", namespaced=True, short_names=("svc",)),
    Kind(kind="ConfigMap", group="", version="v1", plural="configmaps", namespaced=True, short_names=("cm",)),
    Kind(kind="Secret", group="", version="v1", plural="secrets", namespaced=True),
    Kind(
        kind="Namespace", group="", version="v1", plural="namespaces", namespaced=False, short_names=("ns",)
    ),
    Kind(kind="Node", group="", version="v1", plural="nodes", namespaced=False, short_names=("no",)),
    Kind(kind="Event", group="", version="v1", plural="events", namespaced=True, short_names=("ev",)),
    Kind(
        kind="ServiceAccount",
        group="",
        version="v1",
        plural="serviceaccounts",
        namespaced=True,
        short_names=("sa",),
    ),
    Kind(
        kind="PersistentVolumeClaim",
        group="",
        version="v1",
        plural="persistentvolumeclaims",
        namespaced=True,
        short_names=("pvc",),
    ),
    Kind(
        kind="Deployment",
        group="apps",
        version="v1",
        plural="deployments",
        namespaced=True,
        short_names=("deploy",),
    ),
    Kind(
        kind="StatefulSet",
        group="apps",
        version="v1",
        plural="statefulsets",
        namespaced=True,
        short_names=("sts",),
    ),
    Kind(
        kind="DaemonSet",
        group="apps",
        version="v1",
        plural="daemonsets",
        namespaced=True,
        short_names=("ds",),
    ),
    Kind(
        kind="ReplicaSet",
        group="apps",
        version="v1",
        plural="replicasets",
        namespaced=True,
        short_names=("rs",),
    ),
    Kind(kind="Job", group="batch", version="v1", plural="jobs", namespaced=True),
    Kind(
        kind="CronJob", group="batch", version="v1", plural="cronjobs", namespaced=True, short_names=("cj",)
    ),
    Kind(
        kind="Ingress",
        group="networking.k8s.io",
        version="v1",
        plural="ingresses",
        namespaced=True,
        short_names=("ing",),
    ),
)

NAME_TO_KIND: dict[str, Kind] = {name: kind for kind in KINDS for name in kind.names}
"""Lower-case name (kind, plural or short name) -> kind."""

SCALABLE = ("deployments", "statefulsets", "replicasets")
RESTARTABLE = ("deployments", "statefulsets", "daemonsets")


def known_kinds() -> str:
    return ", ".join(f"{k.plural} ({'/'.join(k.short_names)})" if k.short_names else k.plural for k in KINDS)


def resolve_kind(name: str) -> Kind:
    """The kind a user or model means by `deploy`, `Deployment`, `deployments` or `deployments.apps`."""
    key = name.strip().lower()
    kind = NAME_TO_KIND.get(key) or NAME_TO_KIND.get(key.split(".", 1)[0])
    if kind is None or ("." in key and key.split(".", 1)[1] != kind.group):
        raise InvalidSyscall(f"unknown kind {name!r}; known kinds: {known_kinds()}")
    return kind


def kind_of_manifest(api_version: str, kind: str) -> Kind:
    """The kind a manifest declares (`apps/v1` + `Deployment`); the API version must match too."""
    for candidate in KINDS:
        if candidate.kind == kind:
            if candidate.api_version != api_version:
                raise InvalidSyscall(
                    f"{kind} is served as apiVersion {candidate.api_version!r}, not {api_version!r}"
                )
            return candidate
    raise InvalidSyscall(f"cannot apply kind {kind!r} ({api_version}); known kinds: {known_kinds()}")


def require(kind: Kind, allowed: tuple[str, ...], what: str) -> None:
    """Refuse an operation on a kind it does not apply to (scaling a service)."""
    if kind.plural not in allowed:
        raise InvalidSyscall(f"cannot {what} {kind.plural}; only {', '.join(allowed)}")
