"""The daemon's API: tokens, ownership, processes, events, bad input (in-process on the fake engine; over
TCP with the model where a stream follows a model's output or a client hangs up)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from aios.daemon import Daemon
from aios.kernel.records import ProcessState
from tests.daemon.conftest import admin_token, asgi_client, client, user_token


async def _sse(response: httpx.Response, stop: str = "end") -> list[dict[str, Any]]:
    """Events of an open stream until one of kind `stop` (inclusive)."""
    events, fields = [], {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                events.append(
                    {
                        "id": int(fields.get("id", 0)),
                        "event": fields.get("event"),
                        "data": json.loads(fields["data"]),
                    }
                )
                if fields.get("event") == stop:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


async def test_only_health_is_anonymous_and_tokens_are_checked(fake_daemon: Daemon) -> None:
    async with asgi_client(fake_daemon) as anonymous:
        assert (await anonymous.get("/v1/health")).json()["status"] == "ok"
        for method, path in [
            ("GET", "/v1/processes"),
            ("GET", "/v1/events"),
            ("GET", "/v1/approvals"),
            ("POST", "/v1/processes"),
            ("GET", "/v1/agents"),
            ("GET", "/metrics"),
        ]:
            response = await anonymous.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"
    token, _ = fake_daemon.users.create("eve", expires_in_s=-1)  # expired a second ago
    for bad in ("aiosu_forged", token, "aiosp_someprocess"):
        async with asgi_client(fake_daemon, bad) as caller:
            response = await caller.get("/v1/processes")
        assert response.status_code in (401, 403), bad
    revoked = user_token(fake_daemon, "mallory")
    async with asgi_client(fake_daemon, revoked) as caller:
        assert (await caller.get("/v1/processes")).status_code == 200
        [row] = [t for t in fake_daemon.users.list() if t.user == "mallory"]
        fake_daemon.users.revoke(row.id)
        assert (await caller.get("/v1/processes")).status_code == 401


async def test_users_see_and_touch_only_their_own_processes(fake_daemon: Daemon) -> None:
    alice, bob = user_token(fake_daemon, "alice"), user_token(fake_daemon, "bob")
    async with (
        asgi_client(fake_daemon, alice) as a,
        asgi_client(fake_daemon, bob) as b,
        asgi_client(fake_daemon, admin_token(fake_daemon)) as root,
    ):
        spawned = await a.post("/v1/processes", json={"agent": "sleeper", "task": ""})
        assert spawned.status_code == 201, spawned.text
        pid = spawned.json()["pid"]
        assert spawned.json()["owner"] == "alice"
        assert (await b.get(f"/v1/processes/{pid}")).status_code == 404
        assert (await b.post(f"/v1/processes/{pid}/kill")).status_code == 404
        assert [p["pid"] for p in (await b.get("/v1/processes")).json()] == []
        assert [p["pid"] for p in (await a.get("/v1/processes")).json()] == [pid]
        assert [p["pid"] for p in (await root.get("/v1/processes")).json()] == [pid]
        assert (await b.post("/v1/tokens", json={"user": "bob", "admin": True})).status_code == 403
        made = await root.post("/v1/tokens", json={"user": "carol"})
        assert made.status_code == 201 and made.json()["token"].startswith("aiosu_")
        killed = await a.post(f"/v1/processes/{pid}/kill")
        assert killed.json()["state"] == "killed"


async def test_a_process_streams_numbered_events_resumes_and_ends_with_usage(daemon: Daemon) -> None:
    token = user_token(daemon, "alice")
    async with client(daemon, token) as api:
        pid = (await api.post("/v1/processes", json={"agent": "chat", "task": "Say hi"})).json()["pid"]
        async with api.stream("GET", f"/v1/processes/{pid}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = await _sse(response)
        ids = [e["id"] for e in events]
        assert ids == sorted(ids) and len(set(ids[:-1])) == len(ids) - 1
        kinds = [e["event"] for e in events]
        assert kinds[0] == "spawned" and kinds[-2:] == ["exited", "end"] and "syscall_finished" in kinds
        end = events[-1]["data"]
        assert end["state"] == "done" and end["usage"]["llm_calls"] == 1 and end["usage"]["tokens_out"] > 0
        streamed = "".join(e["data"]["detail"]["text"] for e in events if e["event"] == "llm_output")
        pieces = kinds.count("llm_output")
        assert streamed.strip() == end["result"].strip() and pieces >= end["usage"]["tokens_out"] // 8
        middle = events[1]["id"]
        headers = {"Last-Event-ID": str(middle)}
        async with api.stream("GET", f"/v1/processes/{pid}/events", headers=headers) as response:
            again = await _sse(response)
        assert [e["id"] for e in again][:-1] == [i for i in ids[:-1] if i > middle]


async def test_a_client_that_goes_away_does_not_kill_its_process(daemon: Daemon) -> None:
    token = user_token(daemon, "alice")
    async with client(daemon, token) as api:
        pid = (await api.post("/v1/processes", json={"agent": "sleeper", "task": ""})).json()["pid"]
        async with api.stream("GET", f"/v1/processes/{pid}/events") as response:
            await _sse(response, stop="syscall_finished")  # the sleeper's no-op: it runs, then we hang up
        await asyncio.sleep(0.2)
        assert daemon.kernel.process(pid).state == ProcessState.RUNNING
        await api.post(f"/v1/processes/{pid}/kill")


async def test_bad_input_gets_a_clear_4xx(fake_daemon: Daemon) -> None:
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        cases = {
            "malformed json": await api.post(
                "/v1/processes", content=b"{nope", headers={"content-type": "application/json"}
            ),
            "missing field": await api.post("/v1/processes", json={"agent": "chat"}),
            "unknown field": await api.post("/v1/processes", json={"agent": "chat", "task": "x", "uid": 0}),
            "bad agent name": await api.post("/v1/processes", json={"agent": "os:system", "task": "x"}),
            "unknown agent": await api.post("/v1/processes", json={"agent": "ghost", "task": "x"}),
            "unknown pid": await api.get("/v1/processes/999999"),
            "unknown approval": await api.post("/v1/approvals/999999/approve", json={}),
            "oversized": await api.post(
                "/v1/processes", content=b"x" * (2 << 20), headers={"content-type": "application/json"}
            ),
            "bad query": await api.get("/v1/processes", params={"limit": "lots"}),
        }
    expected = {
        "malformed json": 422,
        "missing field": 422,
        "unknown field": 422,
        "bad agent name": 422,
        "unknown agent": 404,
        "unknown pid": 404,
        "unknown approval": 404,
        "oversized": 413,
        "bad query": 422,
    }
    assert {name: r.status_code for name, r in cases.items()} == expected
    for name, response in cases.items():
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.json()["detail"], name
    assert "ghost" in cases["unknown agent"].json()["detail"]


async def test_agents_models_kv_and_metrics(fake_daemon: Daemon) -> None:
    async with asgi_client(fake_daemon, admin_token(fake_daemon)) as api:
        agents = {a["name"]: a for a in (await api.get("/v1/agents")).json()}
        assert agents["react"]["manifest"]["capabilities"] == ["llm", "shell.exec"]
        assert agents["journaler"]["manifest"]["name"] == "journaler"  # read in a sandbox: not aios's own
        pid = (await api.post("/v1/processes", json={"agent": "chat", "task": "Say hi"})).json()["pid"]
        assert (await api.get(f"/v1/processes/{pid}/wait")).json()["state"] == "done"
        assert (await api.get("/v1/models")).json()["data"][0]["id"] == "local"  # OpenAI's shape
        assert isinstance((await api.get("/v1/kv")).json(), list)
        metrics = (await api.get("/metrics")).text
        assert 'aios_syscalls_total{kind="llm",status="ok"}' in metrics
        assert 'aios_process_exits_total{state="done"} 1.0' in metrics
        openapi = (await api.get("/v1/openapi.json")).json()
        assert "/v1/processes/{pid}/events" in openapi["paths"]


async def test_memory_is_per_user(fake_daemon: Daemon) -> None:
    memory = fake_daemon.kernel.memory
    assert memory is not None
    mine = memory.store.add(
        user="alice", agent="chat", tier="long", kind="fact", text="Alice's sister lives in Trondheim"
    )
    theirs = memory.store.add(user="bob", agent="chat", tier="long", kind="fact", text="Bob's PIN is 4321")
    memory.indexer.poke()
    await memory.settle()
    async with (
        asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice,
        asgi_client(fake_daemon, user_token(fake_daemon, "bob")) as bob,
    ):
        assert [m["id"] for m in (await alice.get("/v1/memory")).json()] == [mine.id]
        assert (await alice.get(f"/v1/memory/{theirs.id}")).status_code == 404
        assert (await alice.delete(f"/v1/memory/{theirs.id}")).status_code == 404
        assert (await alice.get("/v1/memory", params={"user": "bob"})).status_code == 403
        hits = (await alice.get("/v1/memory/search", params={"q": "Trondheim sister"})).json()
        assert [h["item"]["id"] for h in hits] == [mine.id]
        exported = (await alice.get("/v1/memory/export/jsonl")).text.splitlines()
        assert [json.loads(line)["id"] for line in exported] == [mine.id]
        assert (await bob.delete(f"/v1/memory/{theirs.id}")).json()["state"] == "forgotten"
        assert (await bob.get("/v1/memory")).json() == []


async def test_every_route_refuses_ids_out_of_range_with_a_4xx(fake_daemon: Daemon) -> None:
    """Ids past 64 bits reached SQLite as an OverflowError (a 500) on the routes that took a bare int."""
    async with asgi_client(fake_daemon, admin_token(fake_daemon)) as api:
        paths = (await api.get("/v1/openapi.json")).json()["paths"]
        checked = []
        for path, operations in paths.items():
            for method, operation in operations.items():
                ids = [
                    p["name"]
                    for p in operation.get("parameters", [])
                    if p["in"] == "path" and p["schema"].get("type") == "integer"
                ]
                for bad in (2**64, 0, -1):
                    url = path
                    for name in ids:
                        url = url.replace("{" + name + "}", str(bad))
                    if not ids:
                        continue
                    response = await api.request(method.upper(), url, params={"timeout_s": 0})
                    assert response.status_code == 422, (method, url, response.text)
                    assert response.headers["content-type"] == "application/problem+json"
                    checked.append((method, path))
    assert ("get", "/v1/processes/{pid}/wait") in checked and ("get", "/v1/processes/{pid}/logs") in checked
