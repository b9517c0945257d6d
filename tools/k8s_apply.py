"""`kubernetes.apply` in two steps: plan (parse, server-side dry run, diff), then write what it changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml

from aios.kernel.errors import InvalidSyscall
from aios.tools.k8s_client import APPLY_PATCH, KubeSession, Query
from aios.tools.k8s_kinds import Kind, kind_of_manifest
from aios.tools.k8s_render import object_diff

Action = Literal["create", "update", "unchanged"]
DONE: dict[Action, str] = {"create": "created", "update": "configured", "unchanged": "unchanged"}


@dataclass(frozen=True, kw_only=True)
class Desired:
    """One object of a manifest, placed in its namespace."""

    kind: Kind
    name: str
    namespace: str | None
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return self.kind.label(self.name, self.namespace)


@dataclass(frozen=True, kw_only=True)
class Change:
    """What applying one object would do, as the server's dry run answered it."""

    desired: Desired
    action: Action
    diff: str

    def describe(self, *, applied: bool) -> dict[str, Any]:
        return {
            "kind": self.desired.kind.kind,
            "name": self.desired.name,
            "namespace": self.desired.namespace,
            "action": DONE[self.action] if applied else self.action,
            "diff": self.diff,
        }


def parse_manifest(manifest: str | dict[str, Any], *, namespace: str, max_objects: int) -> list[Desired]:
    """The objects of a manifest (YAML documents, a `List`, or one dict); errors name the bad document."""
    if isinstance(manifest, dict):
        docs: list[Any] = [manifest]
    else:
        try:
            docs = [d for d in yaml.safe_load_all(manifest) if d is not None]
        except yaml.YAMLError as e:
            raise InvalidSyscall(f"manifest is not valid YAML: {e}") from e
    objects: list[Any] = []
    for doc in docs:
        is_list = isinstance(doc, dict) and doc.get("kind") == "List"
        objects.extend((doc.get("items") or []) if is_list else [doc])
    if not objects:
        raise InvalidSyscall("manifest holds no objects")
    if len(objects) > max_objects:
        raise InvalidSyscall(f"manifest holds {len(objects)} objects; at most {max_objects} per call")
    return [_desired(obj, number, namespace) for number, obj in enumerate(objects, 1)]


def _desired(obj: Any, number: int, namespace: str) -> Desired:
    where = f"manifest object {number}"
    if not isinstance(obj, dict):
        raise InvalidSyscall(f"{where} is not a mapping")
    missing = [k for k in ("apiVersion", "kind") if not isinstance(obj.get(k), str)]
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        missing.append("metadata.name")
    if missing:
        raise InvalidSyscall(f"{where} lacks {', '.join(missing)}")
    kind = kind_of_manifest(obj["apiVersion"], obj["kind"])
    body = {**obj, "metadata": dict(meta)}
    if not kind.namespaced:
        body["metadata"].pop("namespace", None)
        return Desired(kind=kind, name=meta["name"], namespace=None, body=body)
    declared = meta.get("namespace")
    if declared is not None and declared != namespace:
        raise InvalidSyscall(
            f"{where} ({kind.kind} {meta['name']}) is in namespace {declared!r}, "
            f"but the call targets {namespace!r}; drop one of them"
        )
    body["metadata"]["namespace"] = namespace
    return Desired(kind=kind, name=meta["name"], namespace=namespace, body=body)


class Applier:
    """Server-side applies each object (creating what is missing); every write is dry-run first."""

    def __init__(
        self, session: KubeSession, *, field_manager: str, force_conflicts: bool, max_diff_lines: int
    ) -> None:
        self.session = session
        self.field_manager = field_manager
        self.force_conflicts = force_conflicts
        self.max_diff_lines = max_diff_lines

    async def plan(self, objects: list[Desired]) -> list[Change]:
        """Dry-run every object on the server (nothing changes) and diff the result against the live one."""
        changes = []
        for desired in objects:
            path = desired.kind.object_path(desired.name, desired.namespace)
            live = await self.session.get_or_none(path, what=f"get {desired.label}")
            proposed = await self._write(desired, dry_run=True)
            diff = object_diff(live, proposed, name=desired.label, max_lines=self.max_diff_lines)
            action: Action = "create" if live is None else ("update" if diff else "unchanged")
            changes.append(Change(desired=desired, action=action, diff=diff))
        return changes

    async def apply(self, changes: list[Change]) -> list[dict[str, Any]]:
        """Write the planned changes (a plan whose every dry run passed) and report each."""
        for change in changes:
            if change.action != "unchanged":
                await self._write(change.desired, dry_run=False)
        return [change.describe(applied=True) for change in changes]

    async def _write(self, desired: Desired, *, dry_run: bool) -> dict[str, Any]:
        """Server-side apply: creates a missing object and updates fields this manager owns, in one request.

        Creating with a plain POST would leave the fields owned by an `Update` manager, and the next apply
        of a changed value would then conflict with that manager.
        """
        query: Query = [("fieldManager", self.field_manager), ("force", self.force_conflicts)]
        return await self.session.request(
            "PATCH",
            desired.kind.object_path(desired.name, desired.namespace),
            what=f"{'dry-run ' if dry_run else ''}apply {desired.label}",
            query=[*query, *([("dryRun", "All")] if dry_run else [])],
            body=desired.body,
            content_type=APPLY_PATCH,
        )
