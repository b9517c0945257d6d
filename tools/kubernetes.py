"""The `kubernetes` driver: cluster operations for agents; reads run, writes dry-run first, deletes wait."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aios.kernel.drivers import CallContext, Driver, DriverHealth, Operation, RiskLevel
from aios.kernel.errors import AiosError
from aios.tools.configs import KubernetesConfig
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
from aios.tools.k8s_kinds import NAME_TO_KIND

if TYPE_CHECKING:  # the kubernetes client is imported on first use: every `aios` command would pay for it
    from aios.tools.k8s_client import KubeSession
    from aios.tools.k8s_ops import ClusterOps

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class _Spec:
    description: str
    args_model: type[BaseModel]
    risk: RiskLevel


SPECS: dict[str, _Spec] = {
    "get": _Spec(
        description="Get one object (pod, deployment, service, configmap, namespace ...): spec and status.",
        args_model=GetArgs,
        risk=RiskLevel.READ,
    ),
    "list": _Spec(
        description="List objects of a kind in a namespace (or all), with a status summary of each.",
        args_model=ListArgs,
        risk=RiskLevel.READ,
    ),
    "describe": _Spec(
        description="Describe one object: what `get` shows plus the recent events about it.",
        args_model=GetArgs,
        risk=RiskLevel.READ,
    ),
    "logs": _Spec(
        description="The last lines of a pod container's log.",
        args_model=LogsArgs,
        risk=RiskLevel.READ,
    ),
    "events": _Spec(
        description="Recent events in a namespace, or about one object (why a pod is not starting).",
        args_model=EventsArgs,
        risk=RiskLevel.READ,
    ),
    "can_i": _Spec(
        description="Whether this cluster user may do a verb on a resource (kubectl auth can-i).",
        args_model=CanIArgs,
        risk=RiskLevel.READ,
    ),
    "apply": _Spec(
        description=(
            "Create or update objects from a manifest. The server dry-runs it first; the result lists each "
            "object's action and diff. Needs approval by policy."
        ),
        args_model=ApplyArgs,
        risk=RiskLevel.WRITE,
    ),
    "scale": _Spec(
        description="Set the replica count of a deployment or statefulset.",
        args_model=ScaleArgs,
        risk=RiskLevel.WRITE,
    ),
    "rollout_restart": _Spec(
        description="Rolling restart of a deployment's, statefulset's or daemonset's pods.",
        args_model=RolloutRestartArgs,
        risk=RiskLevel.WRITE,
    ),
    "delete": _Spec(
        description="Delete one object. Destructive: a human approves it first.",
        args_model=DeleteArgs,
        risk=RiskLevel.DESTRUCTIVE,
    ),
    "exec": _Spec(
        description="Run a command in a pod's container; get its exit code and output. A human approves it.",
        args_model=ExecArgs,
        risk=RiskLevel.DESTRUCTIVE,
    ),
}


class KubernetesDriver(Driver):
    """Talks to the cluster of one kubeconfig context through the official client, off the event loop."""

    name = "kubernetes"
    exclusive = False
    max_concurrency = 4

    def __init__(self, config: KubernetesConfig | None = None) -> None:
        self.config = config or KubernetesConfig()
        self._session: KubeSession | None = None
        self._opening = asyncio.Lock()

    def operations(self) -> dict[str, Operation]:
        timeout = self.config.request_timeout_s * 4
        return {
            name: Operation(
                name=name,
                description=spec.description,
                args_model=spec.args_model,
                risk=spec.risk,
                timeout_s=timeout + (self.config.exec_timeout_s if name == "exec" else 0),
                capability=f"kubernetes.{name}",
            )
            for name, spec in SPECS.items()
        }

    async def _connect(self) -> KubeSession:
        from aios.tools.k8s_client import KubeSession

        return await asyncio.to_thread(
            KubeSession.connect,
            self.config.kubeconfig,
            self.config.context,
            timeout_s=self.config.request_timeout_s,
        )

    async def open(self) -> None:
        async with self._opening:
            if self._session is None:
                self._session = await self._connect()
                logger.info("kubernetes: context %s at %s", self._session.context, self._session.host)

    async def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def unconfined(self) -> frozenset[str]:
        """Every call speaks to the cluster with the daemon's kubeconfig credentials."""
        return frozenset({"*"})

    async def health(self) -> DriverHealth:
        session = self._session
        try:
            if session is None:
                session = await self._connect()
            try:
                version = await session.request("GET", "/version", what="server version")
            finally:
                if session is not self._session:
                    session.close()
        except AiosError as e:
            return DriverHealth(ok=False, detail=str(e))
        return DriverHealth(
            ok=True,
            detail=(
                f"kubernetes {version.get('gitVersion', '?')} at {session.host} "
                f"(context {session.context}, namespace {self.config.namespace or session.namespace})"
            ),
        )

    async def _ops(self) -> ClusterOps:
        await self.open()
        assert self._session is not None
        from aios.tools.k8s_ops import ClusterOps

        return ClusterOps(self._session, self.config)

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> Any:
        ops = await self._ops()
        handlers: dict[str, Callable[[Any], Awaitable[dict[str, Any]]]] = {
            "get": ops.get,
            "list": ops.list,
            "describe": ops.describe,
            "logs": ops.logs,
            "events": ops.events,
            "can_i": ops.can_i,
            "apply": ops.apply,
            "scale": ops.scale,
            "rollout_restart": ops.rollout_restart,
            "delete": ops.delete,
            "exec": ops.exec,
        }
        assert operation in handlers, f"unexpected operation {operation}"
        assert isinstance(args, SPECS[operation].args_model), f"unexpected arguments {type(args).__name__}"
        return await handlers[operation](args)

    async def preview(self, operation: str, args: BaseModel, ctx: CallContext) -> Any | None:
        """The server's dry run of a write (with a diff for apply), so the human approving sees the change."""
        try:
            ops = await self._ops()
            if isinstance(args, ApplyArgs):
                return await ops.apply(args, dry_run=True)
            if isinstance(args, ScaleArgs):
                return await ops.scale(args, dry_run=True)
            if isinstance(args, RolloutRestartArgs):
                return await ops.rollout_restart(args, dry_run=True)
            if isinstance(args, DeleteArgs):
                return await ops.delete(args, dry_run=True)
            if isinstance(args, ExecArgs):
                namespace = args.namespace or ops.namespace
                pod = NAME_TO_KIND["pods"].label(args.pod, namespace)
                return {"would_run": ops.command(args), "in": pod, "container": args.container or "(default)"}
        except AiosError as e:
            return {"dry_run_failed": str(e)}
        return None
