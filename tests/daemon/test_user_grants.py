"""A token grants at most what an admin granted its user: the attack of a plain user token that became the
daemon's OS account (attach with `ansible.apply`, approve one's own playbook, read `cli.token`), and the
grants an admin sets instead."""

from __future__ import annotations

from aios.daemon import Daemon
from aios.kernel.access import user_defaults, within
from aios.tools.mcp_config import McpConfig
from aios.tools.registry import build_mcp_drivers
from tests.daemon.conftest import admin_token, asgi_client, user_token


async def test_a_plain_user_cannot_give_itself_what_acts_as_the_daemon(fake_daemon: Daemon) -> None:
    bob = user_token(fake_daemon, "bob")
    async with asgi_client(fake_daemon, bob) as api:
        refused = await api.post(
            "/v1/processes/attach",
            json={"name": "burglar", "task": "x", "capabilities": ["llm", "ansible.apply"]},
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["title"] == "PermissionDenied" and "ansible.apply" in refused.json()["detail"]
        wildcard = await api.post(
            "/v1/processes/attach", json={"name": "burglar", "task": "x", "capabilities": ["*"]}
        )
        assert wildcard.status_code == 403
        bracket = await api.post(
            "/v1/processes/attach", json={"name": "burglar", "task": "x", "capabilities": ["mcp.*[.read_]*"]}
        )
        assert bracket.status_code == 422, "only names, dots and * are capability patterns"

        iac = await api.post("/v1/processes", json={"agent": "iac", "task": "make a folder"})
        assert iac.status_code == 201, iac.text
        assert iac.json()["capabilities"] == ["llm", "ansible.check"], "the manifest's ansible.* is cut"
        await api.post(f"/v1/processes/{iac.json()['pid']}/kill")

        me = (await api.get("/v1/users/me")).json()
        assert me["user"] == "bob" and not me["explicit"] and not me["admin"]
        assert {"llm", "memory.*", "shell.*", "ansible.check"} <= set(me["capabilities"])
        assert not {"ansible.apply", "kubernetes.*", "browser.*", "gui.*"} & set(me["capabilities"])
        assert (await api.put("/v1/users/bob/capabilities", json={"capabilities": ["*"]})).status_code == 403


async def test_the_daemons_own_files_stay_out_of_a_users_reach(fake_daemon: Daemon) -> None:
    """What bob's attached process can do with the shell: the data dir and its admin token stay hidden."""
    async with asgi_client(fake_daemon, user_token(fake_daemon, "bob")) as api:
        attached = await api.post(
            "/v1/processes/attach",
            json={"name": "burglar", "task": "x", "capabilities": ["llm", "shell.exec"]},
        )
        assert attached.status_code == 201, attached.text
        token, pid = attached.json()["token"], attached.json()["process"]["pid"]
        target = fake_daemon.settings.cli_token_path
        command = f"cat {target}; ls -A {target.parent}"
        async with asgi_client(fake_daemon, token) as agent:
            ran = await agent.post(
                "/v1/syscalls", json={"kind": "tool", "name": "shell.exec", "arguments": {"cmd": command}}
            )
            await agent.post("/v1/self/exit", json={"result": "done"})
        assert ran.status_code == 200, ran.text
        out = ran.json()["output"]
        admin = target.read_text().strip()
        assert admin not in out["stdout"] and admin not in out["stderr"]
        assert out["stdout"].strip() == "", out
        assert (await api.get(f"/v1/processes/{pid}/wait")).json()["state"] == "done"


async def test_an_admin_grants_and_resets_what_a_user_may_hold(fake_daemon: Daemon) -> None:
    async with (
        asgi_client(fake_daemon, admin_token(fake_daemon)) as root,
        asgi_client(fake_daemon, user_token(fake_daemon, "carol")) as carol,
    ):
        granted = await root.put("/v1/users/carol/capabilities", json={"capabilities": ["llm", "ansible.*"]})
        assert granted.status_code == 200 and granted.json()["explicit"]
        assert granted.json()["updated_by"] == fake_daemon.settings.owner
        attached = await carol.post(
            "/v1/processes/attach",
            json={"name": "ops", "task": "x", "capabilities": ["llm", "ansible.apply"]},
        )
        assert attached.status_code == 201, attached.text
        shell = await carol.post(
            "/v1/processes/attach", json={"name": "ops", "task": "x", "capabilities": ["shell.exec"]}
        )
        assert shell.status_code == 403, "an explicit grant replaces the default"
        bad = await root.put("/v1/users/carol/capabilities", json={"capabilities": ["shell.exec; rm -rf /"]})
        assert bad.status_code == 422
        listed = {u["user"]: u for u in (await root.get("/v1/users")).json()}
        assert listed["carol"]["capabilities"] == ["llm", "ansible.*"]
        reset = await root.delete("/v1/users/carol/capabilities")
        assert reset.json()["explicit"] is False and "ansible.apply" not in reset.json()["capabilities"]
        async with asgi_client(fake_daemon, attached.json()["token"]) as agent:
            await agent.post("/v1/self/exit", json={"result": "done"})


def test_the_default_leaves_out_every_operation_that_acts_as_the_daemon(fake_daemon: Daemon) -> None:
    defaults = user_defaults(fake_daemon.kernel.drivers.values())
    assert fake_daemon.kernel.user_capabilities() == defaults
    for unconfined in ("ansible.apply", "kubernetes.get", "kubernetes.delete", "browser.open", "gui.click"):
        assert within(defaults, [unconfined]) == [], unconfined
    for confined in ("shell.exec", "ansible.check", "memory.own", "memory.read.diary", "llm"):
        assert within(defaults, [confined]) == [confined], confined


def test_within_never_widens() -> None:
    assert within(["llm", "ansible.check"], ["llm", "ansible.*"]) == ["llm", "ansible.check"]
    assert within(["shell.*"], ["shell.exec", "browser.open"]) == ["shell.exec"]
    assert within(["mcp.files.*"], ["mcp.*"]) == ["mcp.files.*"]
    assert within(["*"], ["kubernetes.*", "llm"]) == ["kubernetes.*", "llm"]
    assert within(["shell.exec"], ["shell.?"]) == [], "a pattern with ? could stand for more than its text"
    assert within(["a*"], ["*a"]) == [], "neither inside the other: nothing"
    assert within(["mcp.*.read_*"], ["mcp.*[.read_]*"]) == [], "a bracket could hide names beyond it"
    assert within(["*.read*"], ["ansible.apply"]) == []


def test_only_mcp_servers_without_network_or_credentials_are_in_the_default() -> None:
    config = McpConfig.model_validate(
        {
            "servers": [
                {"name": "notes", "command": "python3"},
                {"name": "files", "command": "python3", "folder": "/srv/shared"},
                {"name": "fetcher", "command": "python3", "network_hosts": ["example.com"]},
                {"name": "remote", "url": "https://mcp.example.com/mcp", "headers": {"Authorization": "x"}},
            ]
        }
    )
    defaults = user_defaults(build_mcp_drivers(config))
    assert defaults == ["llm", "memory.*", "mcp.notes.*"]
