"""Every endpoint family's routes in-process (httpx's ASGI transport) on a daemon whose model is the fake
engine: the statuses and bodies each documents, users kept apart (another user's things are 404, never 403),
admins' routes refused to users, and how the daemon stops, or fails to start, without leaving files behind."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types import ErrorObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from aios.api.openai_routes import PID_HEADER, PROGRAM_HEADER
from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.kernel.approvals import ApprovalPolicy, PolicyRule
from aios.kernel.engines.configs import RemoteModelConfig
from tests.daemon.conftest import admin_token, asgi_client, started, user_token
from tests.fakes import EventLog, FakeEngine, kind

HELLO = {"model": "local", "messages": [{"role": "user", "content": "Hi"}]}
ADMIN_ONLY: list[tuple[str, str, Any]] = [
    ("POST", "/v1/tokens", {"user": "bob", "admin": True}),
    ("GET", "/v1/tokens", None),
    ("DELETE", "/v1/tokens/1", None),
    ("GET", "/v1/users", None),
    ("GET", "/v1/users/alice", None),
    ("PUT", "/v1/users/bob/capabilities", {"capabilities": ["*"]}),
    ("DELETE", "/v1/users/bob/capabilities", None),
    ("GET", "/metrics", None),
]


@pytest.fixture
def daemon_settings(settings: Settings) -> Settings:
    """Removing files asks a human; a second model is reached through litellm (never called here); a user
    holds two conversations at most."""
    approvals = ApprovalPolicy(
        rules=[PolicyRule(tool="shell.exec", arguments={"cmd": "rm *"}, decision="ask")]
    )
    remote = RemoteModelConfig(model="openai/stub-model", api_base="http://127.0.0.1:9/v1")
    daemon = settings.daemon.model_copy(update={"port": 0, "max_conversations_per_user": 2})
    return settings.model_copy(
        update={"daemon": daemon, "approvals": approvals, "models": {**settings.models, "remote": remote}}
    )


def problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    """The body of an RFC 9457 problem of that status, titled by the error's class."""
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["title"], body["type"]) == (status, title, f"urn:aios:error:{title}")
    assert body["detail"], body
    return body


def openai_error(response: httpx.Response, status: int, kind_: str, code: str | None = None) -> str:
    """The message of an error in OpenAI's shape, as its clients read it."""
    assert response.status_code == status, (response.request.url, response.text)
    error = ErrorObject.model_validate(response.json()["error"])
    assert (error.type, error.code) == (kind_, code), error
    return error.message


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a whole event stream (one asked for with `follow=false`)."""
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    pairs = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        lines = [line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")]
        fields = dict(lines)
        if "data" in fields:
            pairs.append((fields.get("event", "message"), json.loads(fields["data"])))
    return pairs


async def attach(api: httpx.AsyncClient, capabilities: list[str]) -> tuple[int, str]:
    """A process for an agent of the caller's own program: its pid and its token."""
    answer = await api.post(
        "/v1/processes/attach", json={"name": "probe", "task": "x", "capabilities": capabilities}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["process"]["pid"], answer.json()["token"]


async def test_syscall_routes_take_only_the_calling_processs_own_token(fake_daemon: Daemon) -> None:
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        pid, token = await attach(api, ["llm"])
        async with asgi_client(fake_daemon, token) as agent:
            me = (await agent.get("/v1/self")).json()
            assert (me["pid"], me["capabilities"]) == (pid, ["llm"])
            said = await agent.post(
                "/v1/syscalls", json={"kind": "llm", "messages": [{"role": "user", "content": "hi"}]}
            )
            assert said.status_code == 200 and said.json()["content"] == "echo: hi", said.text
            shell = {"kind": "tool", "name": "shell.exec", "arguments": {"cmd": "true"}}
            problem(await agent.post("/v1/syscalls", json=shell), 403, "PermissionDenied")
            assert (
                problem(await agent.post("/v1/syscalls", content=b"{no"), 422, "InvalidSyscall")["pid"] == pid
            )
            problem(await agent.post("/v1/syscalls", json=[1]), 422, "InvalidSyscall")
            problem(await agent.get("/v1/processes"), 403, "Forbidden")
            assert (await agent.post("/v1/self/exit", json={"result": "bye"})).status_code == 204
            ended = (await api.get(f"/v1/processes/{pid}/wait")).json()
            assert (ended["state"], ended["result"]) == ("done", "bye")
            problem(await agent.get("/v1/self"), 401, "Unauthorized")  # the token ended with its process
        problem(await api.post("/v1/syscalls", json={"kind": "noop"}), 403, "Forbidden")
        problem(await api.get("/v1/self"), 403, "Forbidden")
    async with asgi_client(fake_daemon, "aiosp_forged") as forged:
        problem(await forged.post("/v1/syscalls", json={"kind": "noop"}), 401, "Unauthorized")


async def test_admin_routes_refuse_a_plain_user_and_serve_an_admin(fake_daemon: Daemon) -> None:
    async with asgi_client(fake_daemon, user_token(fake_daemon, "bob")) as bob:
        for method, path, body in ADMIN_ONLY:
            problem(await bob.request(method, path, json=body), 403, "Forbidden")
    async with asgi_client(fake_daemon, admin_token(fake_daemon)) as root:
        made = await root.post("/v1/tokens", json={"user": "dave", "label": "ci"})
        assert made.status_code == 201, made.text
        token, info = made.json()["token"], made.json()["info"]
        listed = await root.get("/v1/tokens")
        assert info["id"] in [t["id"] for t in listed.json()] and token not in listed.text
        assert (await root.get("/v1/users/dave")).json()["explicit"] is False
        me = (await root.get("/v1/users/me")).json()
        assert (me["admin"], me["capabilities"]) == (True, ["*"])
        metrics = await root.get("/metrics")
        assert metrics.status_code == 200 and "aios_processes_running" in metrics.text
        async with asgi_client(fake_daemon, token) as dave:
            assert (await dave.get("/v1/users/me")).json()["user"] == "dave"
            assert (await root.delete(f"/v1/tokens/{info['id']}")).status_code == 204
            problem(await dave.get("/v1/users/me"), 401, "Unauthorized")
        problem(await root.delete(f"/v1/tokens/{info['id']}"), 404, "NotFound")


async def test_the_dashboard_logs_in_with_a_cookie_that_changes_nothing_without_its_csrf_token(
    fake_daemon: Daemon,
) -> None:
    alice = user_token(fake_daemon, "alice")
    async with asgi_client(fake_daemon) as browser:
        redirect = await browser.get("/")
        assert (redirect.status_code, redirect.headers["location"]) == (307, "/ui/")
        page = await browser.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await browser.get("/ui/static/app.js")).status_code == 200
        problem(await browser.post("/v1/session", json={"token": "aiosu_wrong"}), 401, "Unauthorized")
        login = await browser.post("/v1/session", json={"token": alice})
        assert login.status_code == 204, login.text
        set_cookies = {c.split("=", 1)[0]: c.lower() for c in login.headers.get_list("set-cookie")}
        assert "httponly" in set_cookies["aios_session"] and "samesite=strict" in set_cookies["aios_session"]
        assert "httponly" not in set_cookies["aios_csrf"], "the page reads it to echo it"
        csrf = login.cookies["aios_csrf"]
        browser.cookies.clear()
        jar = {"Cookie": f"aios_session={login.cookies['aios_session']}; aios_csrf={csrf}"}
        assert (await browser.get("/v1/users/me", headers=jar)).json()["user"] == "alice"
        for sent in ({}, {"X-CSRF-Token": "guessed"}):
            refused = await browser.delete("/v1/session", headers={**jar, **sent})
            assert "CSRF" in problem(refused, 403, "Forbidden")["detail"]
        out = await browser.delete("/v1/session", headers={**jar, "X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert all("max-age=0" in c.lower() for c in out.headers.get_list("set-cookie"))


async def test_a_users_process_is_no_process_at_all_to_another_user(fake_daemon: Daemon) -> None:
    events = EventLog(fake_daemon.kernel)
    async with (
        asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice,
        asgi_client(fake_daemon, user_token(fake_daemon, "bob")) as bob,
    ):
        pid = (await alice.post("/v1/processes", json={"agent": "sleeper", "task": ""})).json()["pid"]
        await events.wait(kind("syscall_finished", pid=pid, syscall="noop"))
        for method, path in [
            ("GET", f"/v1/processes/{pid}"),
            ("GET", f"/v1/processes/{pid}/wait"),
            ("GET", f"/v1/processes/{pid}/logs"),
            ("GET", f"/v1/processes/{pid}/events?follow=false"),
            ("POST", f"/v1/processes/{pid}/kill"),
            ("POST", f"/v1/processes/{pid}/resume"),
        ]:
            problem(await bob.request(method, path), 404, "UnknownProcess")
        assert sse(await bob.get("/v1/events", params={"follow": "false"})) == []

        waited = await alice.get(f"/v1/processes/{pid}/wait", params={"timeout_s": 0})
        assert waited.json()["state"] == "running"
        running = await alice.get("/v1/processes", params={"state": "running", "active": "true"})
        assert [p["pid"] for p in running.json()] == [pid]
        assert (await alice.get("/v1/processes", params={"state": "done"})).json() == []
        logs = (await alice.get(f"/v1/processes/{pid}/logs")).json()
        assert [row["kind"] for row in logs["audit"]] == ["noop"]
        resumed = problem(await alice.post(f"/v1/processes/{pid}/resume"), 400, "UserError")
        assert "only interrupted processes resume" in resumed["detail"]
        assert (await alice.post(f"/v1/processes/{pid}/kill")).json()["state"] == "killed"
        assert (await alice.post(f"/v1/processes/{pid}/kill")).json()["state"] == "killed"
        stream = sse(await alice.get(f"/v1/processes/{pid}/events", params={"follow": "false"}))
        assert stream[0][0] == "spawned" and [e for e, _ in stream[-2:]] == ["exited", "end"]
        assert stream[-1][1]["state"] == "killed"
        everything = sse(await alice.get("/v1/events", params={"follow": "false"}))
        assert {data["pid"] for _, data in everything} == {pid}


async def test_an_approval_is_seen_and_decided_only_by_its_processs_owner(fake_daemon: Daemon) -> None:
    events = EventLog(fake_daemon.kernel)
    async with (
        asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice,
        asgi_client(fake_daemon, user_token(fake_daemon, "bob")) as bob,
        asgi_client(fake_daemon, admin_token(fake_daemon)) as root,
    ):
        pid, token = await attach(alice, ["shell.exec"])
        async with asgi_client(fake_daemon, token) as agent:

            def remove(name: str) -> asyncio.Task[httpx.Response]:
                command = {"kind": "tool", "name": "shell.exec", "arguments": {"cmd": f"rm -f {name}"}}
                return asyncio.create_task(agent.post("/v1/syscalls", json=command))

            refused = remove("a")
            [asked] = await events.wait(kind("approval_requested", pid=pid))
            approval = int(asked.detail["approval"])
            assert (await bob.get("/v1/approvals")).json() == []
            for method, path in [
                ("GET", f"/v1/approvals/{approval}"),
                ("POST", f"/v1/approvals/{approval}/approve"),
                ("POST", f"/v1/approvals/{approval}/deny"),
            ]:
                problem(await bob.request(method, path), 404, "UnknownApproval")
            assert [a["id"] for a in (await root.get("/v1/approvals")).json()] == [approval]
            shown = (await alice.get(f"/v1/approvals/{approval}")).json()
            assert (shown["state"], shown["tool"], shown["arguments"]) == (
                "pending",
                "shell.exec",
                {"cmd": "rm -f a"},
            )
            denied = (await alice.post(f"/v1/approvals/{approval}/deny", json={"reason": "not a"})).json()
            assert (denied["state"], denied["decided_by"], denied["reason"]) == ("denied", "alice", "not a")
            problem(await refused, 403, "ApprovalDenied")

            allowed = remove("b")
            second = int(
                (await events.wait(kind("approval_requested", pid=pid), count=2))[1].detail["approval"]
            )
            assert (await alice.post(f"/v1/approvals/{second}/approve")).json()["state"] == "approved"
            assert (await allowed).status_code == 200
            await agent.post("/v1/self/exit", json={"result": "done"})
        assert (await alice.get("/v1/approvals")).json() == []
        decided = (await alice.get("/v1/approvals", params={"pending": "false"})).json()
        assert sorted(a["id"] for a in decided) == [approval, second]


async def test_memory_names_another_user_only_for_an_admin(fake_daemon: Daemon) -> None:
    memory = fake_daemon.kernel.memory
    assert memory is not None
    bobs = memory.store.add(user="bob", agent="chat", tier="long", kind="fact", text="Bob's PIN is 4321")
    async with (
        asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice,
        asgi_client(fake_daemon, admin_token(fake_daemon)) as root,
    ):
        problem(await alice.get("/v1/memory/export/jsonl", params={"user": "bob"}), 403, "Forbidden")
        problem(await alice.get("/v1/memory/search", params={"q": "PIN", "user": "bob"}), 403, "Forbidden")
        problem(await alice.get(f"/v1/memory/{bobs.id}"), 404, "NotFound")
        assert [m["id"] for m in (await root.get("/v1/memory", params={"user": "bob"})).json()] == [bobs.id]
        assert (await root.get(f"/v1/memory/{bobs.id}")).json()["text"] == "Bob's PIN is 4321"
        purged = (await root.delete(f"/v1/memory/{bobs.id}", params={"purge": "true"})).json()
        assert (purged["state"], purged["text"]) == ("forgotten", "")
        assert (await root.get("/v1/memory", params={"user": "bob"})).json() == []
        history = await root.get("/v1/memory", params={"user": "bob", "history": "true"})
        assert [m["id"] for m in history.json()] == [bobs.id]


async def test_a_completion_is_openais_shape_and_a_named_conversation_keeps_its_process(
    fake_daemon: Daemon,
) -> None:
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        named = {PROGRAM_HEADER: "trip"}
        first = await api.post("/v1/chat/completions", json=HELLO, headers=named)
        second = await api.post("/v1/chat/completions", json=HELLO, headers=named)
        alone = await api.post("/v1/chat/completions", json=HELLO)
        streamed = await api.post("/v1/chat/completions", json={**HELLO, "stream": True})  # read whole
    answer = ChatCompletion.model_validate(first.json())
    assert (answer.object, answer.model, answer.choices[0].finish_reason) == (
        "chat.completion",
        "local",
        "stop",
    )
    assert answer.choices[0].message.content == "echo: Hi"
    assert ChatCompletion.model_validate(second.json()).id != answer.id
    pid = int(first.headers[PID_HEADER])
    assert int(second.headers[PID_HEADER]) == pid != int(alone.headers[PID_HEADER])
    held = fake_daemon.kernel.process(pid)
    assert (held.state, held.owner, held.agent, held.llm_calls) == ("running", "alice", "openai", 2)
    one_off = await fake_daemon.kernel.wait(int(alone.headers[PID_HEADER]))
    assert (one_off.state, one_off.llm_calls) == ("done", 1)
    *events, done = [line.removeprefix("data: ") for line in streamed.text.splitlines() if line]
    chunks = [ChatCompletionChunk.model_validate_json(event) for event in events]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Hi"
    assert chunks[-1].choices[0].finish_reason == "stop" and done == "[DONE]"


async def test_the_openai_routes_answer_every_refusal_in_openais_shape(fake_daemon: Daemon) -> None:
    for token in (None, "aiosu_forged"):
        async with asgi_client(fake_daemon, token) as stranger:
            for method, path in [
                ("GET", "/v1/models"),
                ("GET", "/v1/models/local"),
                ("POST", "/v1/chat/completions"),
            ]:
                answer = await stranger.request(method, path, json=HELLO if method == "POST" else None)
                openai_error(answer, 401, "invalid_request_error", "invalid_api_key")
                assert answer.headers["www-authenticate"] == "Bearer"
    async with asgi_client(fake_daemon, admin_token(fake_daemon)) as root:
        await root.put("/v1/users/carol/capabilities", json={"capabilities": ["shell.exec"]})
    async with asgi_client(fake_daemon, user_token(fake_daemon, "carol")) as carol:
        refused = await carol.post("/v1/chat/completions", json=HELLO)
        assert "llm" in openai_error(refused, 403, "permission_error")
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as alice:
        for name in ("one", "two"):
            held = await alice.post("/v1/chat/completions", json=HELLO, headers={PROGRAM_HEADER: name})
            assert held.status_code == 200, held.text
        third = await alice.post("/v1/chat/completions", json=HELLO, headers={PROGRAM_HEADER: "three"})
        assert "max_conversations_per_user" in openai_error(third, 429, "rate_limit_error")
        ghost = await alice.post("/v1/chat/completions", json={**HELLO, "model": "ghost"})
        openai_error(ghost, 404, "invalid_request_error", "model_not_found")
        broken = await alice.post(
            "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
        )
        openai_error(broken, 400, "invalid_request_error")
        openai_error(await alice.get("/v1/models/ghost"), 404, "invalid_request_error", "model_not_found")


async def test_models_kv_and_agents_describe_what_is_configured_and_loaded(fake_daemon: Daemon) -> None:
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        listed = (await api.get("/v1/models")).json()
        routed = (await api.get("/v1/models/openai/gpt-x")).json()
        remote = (await api.get("/v1/models/remote")).json()
        kv = (await api.get("/v1/kv")).json()
        agents = {a["name"]: a for a in (await api.get("/v1/agents")).json()}
    assert listed["object"] == "list"
    cards = [Model.model_validate(card) for card in listed["data"]]
    assert [(c.id, c.object, c.owned_by) for c in cards] == [
        ("local", "model", "aios"),
        ("remote", "model", "aios"),
    ]
    assert [card["kind"] for card in listed["data"]] == ["local", "litellm"]
    assert (remote["id"], remote["kind"], remote["detail"]) == ("remote", "litellm", "http://127.0.0.1:9/v1")
    assert (routed["id"], routed["kind"]) == ("openai/gpt-x", "litellm")
    assert kv == [{"engine": "local", "entries": []}], "the fake engine is loaded and keeps no cache"
    assert agents["sleeper"]["manifest"]["capabilities"] == ["llm"]
    assert agents["sleeper"]["packages"] == ["aios-test-agents 0.1.0"]


async def test_the_mcp_endpoint_refuses_in_json_rpc(fake_daemon: Daemon) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    expired, _ = fake_daemon.users.create("eve", expires_in_s=-1)
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        _, process = await attach(api, ["llm"])
        for token, status in [(process, 403), (expired, 401)]:
            answer = await api.post(
                "/mcp/react", json=body, headers={**headers, "Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == status, answer.text
            error = answer.json()
            assert (error["jsonrpc"], error["error"]["code"]) == ("2.0", -32600) and error["error"]["message"]
        async with asgi_client(fake_daemon, process) as agent:
            await agent.post("/v1/self/exit", json={"result": "done"})


async def test_a_stopped_daemon_ends_conversations_done_interrupts_agents_and_leaves_no_files(
    fake_daemon: Daemon,
) -> None:
    events = EventLog(fake_daemon.kernel)
    settings = fake_daemon.settings
    async with asgi_client(fake_daemon, user_token(fake_daemon, "alice")) as api:
        held = await api.post("/v1/chat/completions", json=HELLO, headers={PROGRAM_HEADER: "kept"})
        sleeper = (await api.post("/v1/processes", json={"agent": "sleeper", "task": ""})).json()["pid"]
        await events.wait(kind("syscall_finished", pid=sleeper, syscall="noop"))
    assert settings.socket_path.exists() and settings.cli_token_path.exists()
    await fake_daemon.close()
    conversation = fake_daemon.kernel.process(int(held.headers[PID_HEADER]))
    assert (conversation.state, conversation.result) == ("done", "the daemon stopped")
    assert fake_daemon.kernel.process(sleeper).state == "interrupted"
    assert not settings.socket_path.exists() and not settings.cli_token_path.exists()


async def test_a_start_that_fails_midway_raises_and_leaves_no_socket_or_token(
    daemon_settings: Settings, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = daemon_settings.daemon.model_copy(update={"port": taken.getsockname()[1]})
        settings = daemon_settings.model_copy(update={"daemon": config})
        with pytest.raises(OSError, match="in use"):
            await start_daemon(settings, cwd=tmp_path, preload=False)
    assert (settings.data_dir / "aios.db").exists(), "it failed midway: the kernel had booted"
    assert not settings.socket_path.exists() and not settings.cli_token_path.exists()


async def test_an_attached_program_that_goes_silent_fails_while_one_with_a_call_in_flight_lives(
    daemon_settings: Settings, tmp_path: Path
) -> None:
    """An attached process is a lease: its syscalls hold it, its exit report ends it, and a program gone
    without a word (killed, its machine off) fails after `daemon.attach_idle_s` instead of running forever."""
    idle = daemon_settings.daemon.model_copy(update={"attach_idle_s": 0.5})
    engine = FakeEngine(gated=True)  # an LLM call that lasts until the test opens the gate
    settings = daemon_settings.model_copy(update={"daemon": idle})
    async with (
        started(settings, tmp_path, engine) as daemon,
        asgi_client(daemon, user_token(daemon, "alice")) as api,
    ):
        silent, _ = await attach(api, ["llm"])
        busy, token = await attach(api, ["llm"])
        async with asgi_client(daemon, token) as agent:
            ask = {"kind": "llm", "messages": [{"role": "user", "content": "hi"}]}
            call = asyncio.ensure_future(agent.post("/v1/syscalls", json=ask))
            gone = (await api.get(f"/v1/processes/{silent}/wait", params={"timeout_s": 30})).json()
            assert gone["state"] == "failed" and "presumed gone" in gone["error"]
            assert daemon.kernel.process(busy).state.value in ("running", "waiting_llm")
            engine.gate.set()
            assert (await call).json()["content"] == "echo: hi"
            assert (await agent.post("/v1/self/exit", json={"result": "bye"})).status_code == 204
        ended = (await api.get(f"/v1/processes/{busy}/wait", params={"timeout_s": 30})).json()
        assert (ended["state"], ended["result"]) == ("done", "bye")
