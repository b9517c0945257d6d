"""A Kubernetes API server emulated in-process (kmock) for tests, benchmarks and the security suite.

kmock's emulator stores objects and serves get/list/create/patch/delete. On top, this one honours
`dryRun=All` (kmock would persist the change), routes `/api/v1/namespaces[/name]` (kmock reads the
name as a namespace), filters lists by label and field selectors, answers SelfSubjectAccessReviews
from a deny list, serves pod logs, and runs `exec` over the real websocket channel protocol against
a tiny emulated container.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.resources
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

NAMESPACES = kmock.resource("v1/namespaces")
PODS = kmock.resource("v1/pods")
ACCESS_REVIEWS = kmock.resource("authorization.k8s.io/v1/selfsubjectaccessreviews")
NAMESPACE_PATH = re.compile(r"/api/v1/namespaces(?:/([^/]+))?/?")
EXEC_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec")
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")

Command = Callable[[str, list[str]], tuple[str, str, int]]
"""(pod, argv) -> (stdout, stderr, exit code)."""


def emulated_container(pod: str, argv: list[str]) -> tuple[str, str, int]:
    """A container that knows four programs; anything else is not found, as in a slim image."""
    match argv:
        case ["echo", *words]:
            return " ".join(words) + "\n", "", 0
        case ["hostname"]:
            return pod + "\n", "", 0
        case ["false"]:
            return "", "", 1
        case ["yes", word]:
            return (word + "\n") * 100_000, "", 0
        case [program, *_]:
            return "", f"{program}: command not found\n", 127
    return "", "", 0


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus what a real API server does that the kubernetes driver relies on."""

    denied: set[tuple[str, str]] = attrs.field(factory=set)
    """(verb, resource plural) pairs the access review refuses; everything else is allowed."""
    pod_logs: dict[tuple[str, str, str], str] = attrs.field(factory=dict)
    """(namespace, pod, container) -> the container's log."""
    command: Command = emulated_container

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_path(importlib.resources.files("kmock._internal") / "resources.json.gz")  # type: ignore[arg-type]

    def add(self, resource: str, namespace: str | None, body: dict[str, Any]) -> None:
        """Put an object straight into the store (test setup, no request)."""
        name = body["metadata"]["name"]
        if namespace is not None:
            body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
        self.objects[kmock.resource(resource), namespace, name] = body

    def exists(self, resource: str, namespace: str | None, name: str) -> bool:
        key = (kmock.resource(resource), namespace, name)
        return key in self.objects and not self.objects[key].deleted

    def stored(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        """The object as the store holds it now."""
        return self.objects[kmock.resource(resource), namespace, name].raw

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        exec_match = EXEC_PATH.fullmatch(raw.path)
        if exec_match is not None and raw.headers.get("Upgrade", "").lower() == "websocket":
            return await self._exec(raw, exec_match.group(1), exec_match.group(2))
        namespace_match = NAMESPACE_PATH.fullmatch(raw.path)
        if namespace_match is None:
            return await super().__call__(raw)
        # kmock parses /api/v1/namespaces/<name> as "everything in namespace <name>": route it here
        body = await raw.read()
        name = namespace_match.group(1)
        actions = {
            "GET": kmock.action.FETCH if name else kmock.action.LIST,
            "POST": kmock.action.CREATE,
            "PATCH": kmock.action.UPDATE,
            "DELETE": kmock.action.DELETE,
        }
        request = kmock.Request(
            id=len(self._requests),
            method=raw.method,
            url=raw.url,
            params=dict(raw.query),
            headers=dict(raw.headers),
            body=body,
            text=body.decode(),
            data=json.loads(body) if body else None,
            action=actions.get(raw.method),
            resource=NAMESPACES,
            name=name,
            raw_request=raw,
        )
        self._requests.append(request)  # kmock's views find the requests they serve in this list
        try:
            return await self._handle(request)
        except Exception as e:
            return await self._render_error(e)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource == ACCESS_REVIEWS and request.action == kmock.action.CREATE:
            return aiohttp.web.json_response(self._review(request.data))
        if request.resource == PODS and request.subresource == "log":
            return aiohttp.web.Response(text=self._log(request), content_type="text/plain")
        if request.action == kmock.action.CREATE:
            _validate(request)
        is_dry_run = request.params.get("dryRun") == "All"
        if _is_apply(request) and self._stored(request, request.name, request.namespace) is None:
            # server-side apply creates what is missing, where kmock's patch would answer 404
            _validate(request)
            if not is_dry_run:
                self.objects[request.resource, request.namespace, request.name] = request.data
            return aiohttp.web.json_response(request.data)
        writes = (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE)
        if is_dry_run and request.action in writes:
            return aiohttp.web.json_response(self._dry_run(request))
        return await super()._handle(request)

    async def _serve_list(self, request: kmock.Request) -> Any:
        answer = await super()._serve_list(request)
        labels = _selector(request.params.get("labelSelector", ""))
        fields = _selector(request.params.get("fieldSelector", ""))
        items = [
            item
            for item in answer["items"]
            if _matches(
                labels, lambda key, obj=item: ((obj.get("metadata") or {}).get("labels") or {}).get(key)
            )
            and _matches(fields, lambda key, obj=item: _field(obj, key))
        ]
        return {**answer, "items": items}

    def _stored(self, request: kmock.Request, name: str | None, namespace: str | None) -> kmock.Object | None:
        assert request.resource is not None and name is not None
        key = (request.resource, namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return self.objects[key]

    def _dry_run(self, request: kmock.Request) -> dict[str, Any]:
        """What the write would return, computed on a copy: the store is left as it was."""
        if request.action == kmock.action.CREATE:
            meta = request.data.get("metadata") or {}
            namespace = request.namespace or meta.get("namespace")
            if self._stored(request, meta.get("name"), namespace) is not None:
                raise kmock.KubernetesError(409, "AlreadyExists", f"{meta.get('name')} already exists")
            return copy.deepcopy(request.data)
        stored = self._stored(request, request.name, request.namespace)
        if stored is None:
            raise kmock.KubernetesError(404, "NotFound", f"{request.name} not found")
        if request.action == kmock.action.DELETE:
            return copy.deepcopy(stored.raw)
        proposed = kmock.Object(copy.deepcopy(stored.raw))
        proposed.patch(request.data)
        return proposed.raw

    def _review(self, review: dict[str, Any]) -> dict[str, Any]:
        wanted = review["spec"]["resourceAttributes"]
        allowed = (wanted["verb"], wanted["resource"]) not in self.denied
        status = (
            {"allowed": allowed} if allowed else {"allowed": False, "reason": "denied by the test policy"}
        )
        return {**review, "status": status}

    def _log(self, request: kmock.Request) -> str:
        """A container's log, with the API's container rules, tailLines and limitBytes."""
        stored = self._stored(request, request.name, request.namespace)
        if stored is None:
            raise kmock.KubernetesError(404, "NotFound", f'pods "{request.name}" not found')
        containers = [c["name"] for c in stored.raw["spec"]["containers"]]
        container = request.params.get("container")
        if container is None:
            if len(containers) != 1:
                raise kmock.KubernetesError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {request.name}, choose one of: {containers}",
                )
            container = containers[0]
        if container not in containers:
            raise kmock.KubernetesError(
                400, "BadRequest", f"container {container} is not valid for pod {request.name}"
            )
        text = self.pod_logs.get((request.namespace or "", request.name or "", container), "")
        if "tailLines" in request.params:
            text = "".join(text.splitlines(keepends=True)[-int(request.params["tailLines"]) :])
        if "limitBytes" in request.params:
            text = text.encode()[: int(request.params["limitBytes"])].decode("utf-8", "ignore")
        return text

    async def _exec(
        self, raw: aiohttp.web.BaseRequest, namespace: str, pod: str
    ) -> aiohttp.web.StreamResponse:
        """The exec subresource over the channel protocol: 1 stdout, 2 stderr, 3 the final status."""
        if not self.exists("v1/pods", namespace, pod):
            return aiohttp.web.json_response(
                {"kind": "Status", "code": 404, "reason": "NotFound", "message": f'pods "{pod}" not found'},
                status=404,
            )
        stdout, stderr, code = self.command(pod, raw.query.getall("command", []))
        ws = aiohttp.web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS)
        await ws.prepare(raw)
        for channel, text in ((1, stdout), (2, stderr)):
            for start in range(0, len(text), 32 * 1024):
                await ws.send_bytes(bytes([channel]) + text[start : start + 32 * 1024].encode())
        if code == 0:
            status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            status = {
                "metadata": {},
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws


def _is_apply(request: kmock.Request) -> bool:
    return request.action == kmock.action.UPDATE and request.headers.get("Content-Type", "").startswith(
        "application/apply-patch"
    )


def _validate(request: kmock.Request) -> None:
    """The API server's name check: a create with a name that is no DNS subdomain is refused (422)."""
    name = str(((request.data or {}).get("metadata") or {}).get("name", ""))
    if not DNS_NAME.fullmatch(name):
        plural = request.resource.plural if request.resource is not None else "objects"
        raise kmock.KubernetesError(
            422,
            "Invalid",
            f'{plural} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
        )


def _selector(text: str) -> list[tuple[str, str, str | None]]:
    """`a=b,c!=d,e,!f` as (key, operator, value) terms."""
    terms: list[tuple[str, str, str | None]] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append((key, "!=", value))
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            terms.append((key, "=", value))
        elif term.startswith("!"):
            terms.append((term[1:], "absent", None))
        else:
            terms.append((term, "present", None))
    return terms


def _matches(terms: list[tuple[str, str, str | None]], lookup: Callable[[str], Any]) -> bool:
    for key, operator, value in terms:
        found = lookup(key)
        shown = None if found is None else str(found)
        if operator == "=" and shown != value:
            return False
        if operator == "!=" and shown == value:
            return False
        if operator == "present" and found is None:
            return False
        if operator == "absent" and found is not None:
            return False
    return True


def _field(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def write_kubeconfig(path: Path, server: str, *, namespace: str = "default") -> Path:
    """A kubeconfig whose current context points at the emulator (a token, as a real one would carry)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server.rstrip("/")}}],
        "users": [{"name": "tester", "user": {"token": "test-token"}}],
        "contexts": [
            {"name": "kmock", "context": {"cluster": "kmock", "user": "tester", "namespace": namespace}}
        ],
        "current-context": "kmock",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def serve(folder: Path) -> AsyncIterator[tuple[ClusterEmulator, Path]]:
    """The emulator on a 127.0.0.1 port without pytest (benchmarks); yields it and a kubeconfig for it."""
    async with ClusterEmulator() as emulator, kmock.Server(emulator) as server:
        yield emulator, write_kubeconfig(folder / "kubeconfig", str(server.url))
