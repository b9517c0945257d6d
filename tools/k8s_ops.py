"""What each kubernetes operation does on the cluster, and what it would do (the preview a human approves)."""

from __future__ import annotations

import datetime
import shlex
from typing import TYPE_CHECKING, Any

from aios.kernel.errors import InvalidSyscall
from aios.tools.k8s_apply import Applier, parse_manifest
from aios.tools.k8s_args import (
    ApplyArgs,
    CanIArgs,
    DeleteArgs,
    EventsArgs,
    ExecArgs,
    GetArgs,
    ListArgs,
    LogsArgs,
    RolloutRestartArgs,
    ScaleArgs,
)
from aios.tools.k8s_client import MERGE_PATCH, KubeSession, Query
from aios.tools.k8s_kinds import NAME_TO_KIND, RESTARTABLE, SCALABLE, Kind, require, resolve_kind
from aios.tools.k8s_render import detail, event_line, sort_events, summary

if TYPE_CHECKING:
    from aios.tools.kubernetes import KubernetesConfig

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
EVENTS = NAME_TO_KIND["events"]
PODS = NAME_TO_KIND["pods"]
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
DESCRIBE_EVENTS = 20
DRY_RUN: Query = [("dryRun", "All")]

Out = dict[str, Any]


class ClusterOps:
    """The operations on one session; writes go through a server-side dry run before they change anything."""

    def __init__(self, session: KubeSession, config: KubernetesConfig) -> None:
        self.session = session
        self.config = config

    @property
    def namespace(self) -> str:
        """Where calls that name no namespace go: the configured one, else the context's."""
        return self.config.namespace or self.session.namespace

    def _namespace(self, kind: Kind, namespace: str | None) -> str | None:
        return (namespace or self.namespace) if kind.namespaced else None

    # ---- reads ----------------------------------------------------------------------------------

    async def get(self, args: GetArgs) -> Out:
        kind = resolve_kind(args.kind)
        namespace = self._namespace(kind, args.namespace)
        obj = await self.session.request(
            "GET", kind.object_path(args.name, namespace), what=f"get {kind.label(args.name, namespace)}"
        )
        return detail(obj, kind)

    async def list(self, args: ListArgs) -> Out:
        kind = resolve_kind(args.kind)
        namespace = None if args.all_namespaces else self._namespace(kind, args.namespace)
        query: list[tuple[str, Any]] = [("limit", self.config.max_list_items)]
        if args.label_selector:
            query.append(("labelSelector", args.label_selector))
        if args.field_selector:
            query.append(("fieldSelector", args.field_selector))
        where = f" in {namespace}" if namespace else ""
        answer = await self.session.request(
            "GET", kind.collection_path(namespace), what=f"list {kind.plural}{where}", query=query
        )
        items = answer.get("items") or []
        if kind is EVENTS:
            items = sort_events(items)
        shown = items[: self.config.max_list_items]
        more = bool((answer.get("metadata") or {}).get("continue")) or len(items) > len(shown)
        out: Out = {"kind": kind.plural, "count": len(shown), "items": [summary(i, kind) for i in shown]}
        if kind.namespaced:
            out["namespace"] = namespace or "(all)"
        if more:
            out["truncated"] = f"more than {len(shown)}; narrow it with a selector"
        return out

    async def describe(self, args: GetArgs) -> Out:
        kind = resolve_kind(args.kind)
        namespace = self._namespace(kind, args.namespace)
        out = await self.get(args)
        events = await self._events_about(kind, args.name, namespace, DESCRIBE_EVENTS)
        return {**out, "events": events}

    async def events(self, args: EventsArgs) -> Out:
        namespace = args.namespace or self.namespace
        if args.kind is None and args.name is None:
            answer = await self.session.request(
                "GET", EVENTS.collection_path(namespace), what=f"list events in {namespace}"
            )
            lines = [event_line(e) for e in sort_events(answer.get("items") or [])]
            return {"namespace": namespace, "events": lines[-args.limit :]}
        kind = resolve_kind(args.kind) if args.kind else None
        return {
            "namespace": namespace,
            "events": await self._events_about(kind, args.name, namespace, args.limit),
        }

    async def _events_about(
        self, kind: Kind | None, name: str | None, namespace: str | None, limit: int
    ) -> list[Out]:
        """The newest events about one object (or one kind), oldest first."""
        selector = []
        if kind is not None:
            selector.append(f"involvedObject.kind={kind.kind}")
        if name is not None:
            selector.append(f"involvedObject.name={name}")
        # events about a cluster-wide object (a namespace, a node) may be in any namespace: search them all
        where = namespace if kind is None or kind.namespaced else None
        answer = await self.session.request(
            "GET",
            EVENTS.collection_path(where),
            what=f"list events about {kind.label(name, namespace) if kind else name}",
            query=[("fieldSelector", ",".join(selector))],
        )
        lines = [event_line(e) for e in sort_events(answer.get("items") or [])]
        return lines[-limit:]

    async def logs(self, args: LogsArgs) -> Out:
        namespace = args.namespace or self.namespace
        query: list[tuple[str, Any]] = [
            ("tailLines", args.tail_lines),
            # the server cuts at the front of the tail; ask for more, keep the newest bytes below
            ("limitBytes", self.config.max_log_bytes * 4),
        ]
        if args.container:
            query.append(("container", args.container))
        if args.previous:
            query.append(("previous", True))
        text = await self.session.request(
            "GET",
            PODS.object_path(args.pod, namespace, "log"),
            what=f"logs of {PODS.label(args.pod, namespace)}",
            query=query,
        )
        text = text if isinstance(text, str) else str(text)
        data = text.encode()
        truncated = len(data) > self.config.max_log_bytes
        if truncated:
            text = data[-self.config.max_log_bytes :].decode("utf-8", "replace")
        out: Out = {"pod": args.pod, "namespace": namespace, "lines": text.count("\n"), "text": text}
        if args.container:
            out["container"] = args.container
        if truncated:
            out["truncated"] = f"only the last {self.config.max_log_bytes} bytes"
        return out

    async def can_i(self, args: CanIArgs) -> Out:
        kind = resolve_kind(args.resource)
        namespace = self._namespace(kind, args.namespace)
        attributes: Out = {"verb": args.verb, "group": kind.group, "resource": kind.plural}
        if namespace:
            attributes["namespace"] = namespace
        if args.name:
            attributes["name"] = args.name
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        answer = await self.session.request(
            "POST", ACCESS_REVIEWS, what=f"can-i {args.verb} {kind.label(args.name, namespace)}", body=review
        )
        status = answer.get("status") or {}
        out: Out = {"allowed": bool(status.get("allowed")), **{k: v for k, v in attributes.items() if v}}
        if status.get("reason"):
            out["reason"] = status["reason"]
        return out

    # ---- writes ---------------------------------------------------------------------------------

    def _applier(self) -> Applier:
        return Applier(
            self.session,
            field_manager=self.config.field_manager,
            force_conflicts=self.config.force_conflicts,
            max_diff_lines=self.config.max_diff_lines,
        )

    async def apply(self, args: ApplyArgs, *, dry_run: bool = False) -> Out:
        objects = parse_manifest(
            args.manifest,
            namespace=args.namespace or self.namespace,
            max_objects=self.config.max_manifest_objects,
        )
        applier = self._applier()
        changes = await applier.plan(objects)
        if dry_run:
            return {"dry_run": True, "changes": [c.describe(applied=False) for c in changes]}
        return {"changes": await applier.apply(changes)}

    async def scale(self, args: ScaleArgs, *, dry_run: bool = False) -> Out:
        kind = resolve_kind(args.kind)
        require(kind, SCALABLE, "scale")
        namespace = self._namespace(kind, args.namespace)
        label = kind.label(args.name, namespace)
        path = kind.object_path(args.name, namespace, "scale")
        current = await self.session.request("GET", path, what=f"get scale of {label}")
        before = (current.get("spec") or {}).get("replicas", 0)
        body = {"spec": {"replicas": args.replicas}}
        await self._patch(path, body, what=f"scale {label}", dry_run=dry_run)
        out: Out = {"kind": kind.kind, "name": args.name, "namespace": namespace}
        out |= {"replicas_before": before, "replicas": args.replicas}
        return out | ({"dry_run": True} if dry_run else {})

    async def rollout_restart(self, args: RolloutRestartArgs, *, dry_run: bool = False) -> Out:
        kind = resolve_kind(args.kind)
        require(kind, RESTARTABLE, "restart")
        namespace = self._namespace(kind, args.namespace)
        now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        label = kind.label(args.name, namespace)
        await self._patch(
            kind.object_path(args.name, namespace), body, what=f"restart {label}", dry_run=dry_run
        )
        out: Out = {"kind": kind.kind, "name": args.name, "namespace": namespace, "restarted_at": now}
        return out | ({"dry_run": True} if dry_run else {})

    async def _patch(self, path: str, body: Out, *, what: str, dry_run: bool) -> None:
        """A merge patch, dry-run on the server first so a refused change never half-happens."""
        await self.session.request(
            "PATCH", path, what=f"dry-run {what}", query=DRY_RUN, body=body, content_type=MERGE_PATCH
        )
        if not dry_run:
            await self.session.request("PATCH", path, what=what, body=body, content_type=MERGE_PATCH)

    async def delete(self, args: DeleteArgs, *, dry_run: bool = False) -> Out:
        kind = resolve_kind(args.kind)
        namespace = self._namespace(kind, args.namespace)
        label = kind.label(args.name, namespace)
        path = kind.object_path(args.name, namespace)
        query: list[tuple[str, Any]] = [("propagationPolicy", "Background")]
        if args.grace_period_seconds is not None:
            query.append(("gracePeriodSeconds", args.grace_period_seconds))
        answer = await self.session.request(
            "DELETE", path, what=f"dry-run delete {label}", query=[*query, *DRY_RUN]
        )
        if not dry_run:
            answer = await self.session.request("DELETE", path, what=f"delete {label}", query=query)
        key = "would_delete" if dry_run else "deleted"
        return {
            "kind": kind.kind,
            # most kinds answer with the object; some with a bare Status
            key: {"name": args.name} if answer.get("kind") == "Status" else summary(answer, kind),
        }

    async def exec(self, args: ExecArgs) -> Out:
        namespace = args.namespace or self.namespace
        command = self.command(args)
        query: list[tuple[str, Any]] = [("command", command), ("stdout", True), ("stderr", True)]
        if args.container:
            query.append(("container", args.container))
        result = await self.session.exec(
            PODS.object_path(args.pod, namespace, "exec"),
            query,
            what=f"exec in {PODS.label(args.pod, namespace)}",
            timeout_s=self.config.exec_timeout_s,
            max_bytes=self.config.max_output_bytes,
        )
        out: Out = {"pod": args.pod, "namespace": namespace, "command": command}
        out |= {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
        return out | ({"truncated": True} if result.truncated else {})

    @staticmethod
    def command(args: ExecArgs) -> list[str]:
        """The argv to run; a string is split the way a shell would, never run through one."""
        try:
            command = shlex.split(args.command) if isinstance(args.command, str) else list(args.command)
        except ValueError as e:
            raise InvalidSyscall(f"cannot split the command {args.command!r}: {e}") from e
        if not command or not command[0]:
            raise InvalidSyscall("exec needs a command, e.g. ['cat', '/etc/hostname']")
        return command
