"""One connection to a cluster: the official client from a kubeconfig, every request in a worker thread."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.stream import ws_client

from aios.kernel.errors import ConfigError, ToolError, ToolTimeout

logger = logging.getLogger(__name__)

Query = Sequence[tuple[str, Any]]

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
"""Server-side apply; the body is JSON, which is YAML too."""


@dataclass(frozen=True, kw_only=True)
class ExecOutput:
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool


class KubeSession:
    """An ApiClient for one kubeconfig context; the sync client runs in threads, never on the event loop."""

    def __init__(
        self, api: client.ApiClient, *, context: str, timeout_s: float, namespace: str = "default"
    ) -> None:
        self.api = api
        self.context = context
        self.timeout_s = timeout_s
        self.namespace = namespace
        """The context's namespace (kubectl's default for calls that name none)."""

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    @classmethod
    def connect(cls, kubeconfig: Path | None, context: str | None, *, timeout_s: float) -> KubeSession:
        """Load credentials the way kubectl does (blocking: exec credential plugins may run)."""
        configuration = client.Configuration()
        source = (
            str(kubeconfig.expanduser()) if kubeconfig else os.environ.get("KUBECONFIG", "~/.kube/config")
        )
        paths = [Path(p).expanduser() for p in source.split(os.pathsep) if p]
        try:
            if not any(p.exists() for p in paths):
                if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config.load_incluster_config(client_configuration=configuration)
                    own = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    namespace = own.read_text().strip() if own.is_file() else "default"
                    return cls(
                        client.ApiClient(configuration),
                        context="in-cluster",
                        timeout_s=timeout_s,
                        namespace=namespace,
                    )
                raise ConfigError(
                    f"no kubeconfig: {', '.join(map(str, paths))} not found; set kubernetes.kubeconfig, "
                    "KUBECONFIG, or create ~/.kube/config"
                )
            config.load_kube_config(
                config_file=source, context=context, client_configuration=configuration, persist_config=False
            )
            contexts, active = config.list_kube_config_contexts(config_file=source)
        except (ConfigException, OSError, yaml.YAMLError) as e:
            where = f"context {context!r} of " if context else ""
            raise ConfigError(f"kubernetes: cannot use {where}kubeconfig {source}: {e}") from e
        chosen = next((c for c in contexts if c["name"] == context), active) if context else active
        return cls(
            client.ApiClient(configuration),
            context=chosen["name"],
            timeout_s=timeout_s,
            namespace=chosen.get("context", {}).get("namespace") or "default",
        )

    def close(self) -> None:
        self.api.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Query = (),
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """One API call; JSON answers come back parsed, others (logs) as text. `what` names it in errors."""
        return await asyncio.to_thread(self._request, method, path, what, query, body, content_type)

    async def get_or_none(self, path: str, *, what: str) -> dict[str, Any] | None:
        """An object, or None where the server says it does not exist."""
        try:
            return await self.request("GET", path, what=what)
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    def _request(self, method: str, path: str, what: str, query: Query, body: Any, content_type: str) -> Any:
        headers = {"Accept": JSON, "Content-Type": content_type}
        request = self.api.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(*request[:4], _request_timeout=self.timeout_s)
            data = response.read()
        except urllib3.exceptions.HTTPError as e:
            raise ToolError(f"{what}: cannot reach the API server at {self.host}: {e}") from e
        if not 200 <= response.status <= 299:
            raise api_error(what, response.status, response.reason, data)
        text = data.decode("utf-8", "replace")
        if response.headers.get("Content-Type", "").startswith(JSON):
            return json.loads(text)
        return text

    async def exec(
        self,
        path: str,
        query: Query,
        *,
        what: str,
        timeout_s: float,
        max_bytes: int,
    ) -> ExecOutput:
        """Run a command over the exec websocket; the exit code comes from the error channel's status."""
        return await asyncio.to_thread(self._exec, path, query, what, timeout_s, max_bytes)

    def _exec(self, path: str, query: Query, what: str, timeout_s: float, max_bytes: int) -> ExecOutput:
        method, url, headers, _, _ = self.api.param_serialize(
            "GET",
            path,
            query_params=list(query),
            header_params={},
            auth_settings=["BearerToken"],
            collection_formats={"command": "multi"},
        )
        try:
            ws = ws_client.websocket_call(
                self.api.configuration,
                method,
                url,
                headers=headers,
                _preload_content=False,
                capture_all=False,
            )
        except ApiException as e:
            raise ToolError(f"{what}: the exec stream did not open: {handshake_error(str(e.reason))}") from e
        stdout, stderr, truncated = "", "", False
        deadline = time.monotonic() + timeout_s
        try:
            while ws.is_open() and not truncated:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ToolTimeout(f"{what}: the command ran past {timeout_s:.0f}s")
                ws.update(timeout=min(left, 1.0))
                stdout += ws.read_channel(ws_client.STDOUT_CHANNEL)
                stderr += ws.read_channel(ws_client.STDERR_CHANNEL)
                truncated = len(stdout) + len(stderr) > max_bytes
            status = ws.read_channel(ws_client.ERROR_CHANNEL)
        finally:
            ws.close()
            if ws.sock is not None:
                ws.sock.shutdown()  # the server may have closed first; free the socket either way
        if truncated:
            return ExecOutput(
                exit_code=-1, stdout=stdout[:max_bytes], stderr=stderr[:max_bytes], truncated=True
            )
        return ExecOutput(exit_code=exit_code(what, status), stdout=stdout, stderr=stderr, truncated=False)


def exit_code(what: str, status_text: str) -> int:
    """The command's exit code from the exec status (`Success`, or a `NonZeroExitCode` failure)."""
    if not status_text:
        raise ToolError(f"{what}: the stream closed without an exit status")
    status = yaml.safe_load(status_text)
    if status.get("status") == "Success":
        return 0
    for cause in status.get("details", {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise ToolError(f"{what}: {status.get('reason', 'Failure')}: {status.get('message', status_text)}")


def handshake_error(reason: str) -> str:
    """websocket-client's `Handshake status 404 Not Found -+-+- {headers} -+-+- body` as status, message."""
    status, *rest = reason.split(" -+-+- ")
    try:
        body = json.loads(rest[-1]) if rest else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return f"{status.removeprefix('Handshake status ')}: {body['message']}"
    return reason[:300]


class KubeApiError(ToolError):
    """The API server refused a request; `status` is the HTTP status (404: it does not exist)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def api_error(what: str, status: int, reason: str | None, data: bytes) -> KubeApiError:
    """A failed answer as a readable error: the status, the server's reason and message, and the object."""
    message = data.decode("utf-8", "replace").strip()[:300]
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        reason = body.get("reason") or reason
        message = body.get("message") or message
    return KubeApiError(f"{what}: {status} {reason}: {message}", status=status)
