"""Human approval of risky tool calls: the policy, blocking, deciding in-process and from another process."""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aios.cli_approvals import Prompter
from aios.config import Settings
from aios.kernel.approvals import ApprovalPolicy, PolicyRule
from aios.kernel.drivers import CallContext, Driver, Operation, RiskLevel
from aios.kernel.errors import ConfigError, PermissionDenied, ToolError, UnknownApproval
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ToolSyscall

from ..cli_helpers import aios
from ..fakes import until


class NameArgs(BaseModel):
    name: str


class VaultDriver(Driver):
    """A test device with one operation per risk level; records what actually ran."""

    name = "vault"

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.released: list[int] = []

    def operations(self) -> dict[str, Operation]:
        return {
            op: Operation(
                name=op,
                description=op,
                args_model=NameArgs,
                risk=risk,
                timeout_s=5,
                capability=f"vault.{op}",
                ask_first=op == "seal",
            )
            for op, risk in (
                ("peek", RiskLevel.READ),
                ("store", RiskLevel.WRITE),
                ("seal", RiskLevel.WRITE),
                ("shred", RiskLevel.DESTRUCTIVE),
            )
        }

    async def call(self, operation: str, args: BaseModel, ctx: CallContext) -> Any:
        assert isinstance(args, NameArgs)
        self.ran.append((operation, args.name))
        return {"done": operation}

    async def preview(self, operation: str, args: BaseModel, ctx: CallContext) -> Any:
        assert isinstance(args, NameArgs)
        if args.name == "missing":
            raise ToolError(f"no item {args.name!r} to {operation}")
        return {"would": f"{operation} {args.name}"}

    async def release(self, pid: int) -> None:
        self.released.append(pid)


def test_the_policy_decides_by_rule_then_by_risk(tmp_path: Path) -> None:
    policy = ApprovalPolicy(
        rules=[
            PolicyRule(
                tool="vault.store", arguments={"name": "secret*"}, decision="deny", reason="no secrets"
            ),
            PolicyRule(tool="vault.shred", arguments={"name": "tmp-*"}, decision="allow"),
        ]
    )
    assert policy.decide("vault.store", {"name": "secret-plan"}, RiskLevel.WRITE) == ("deny", "no secrets")
    assert policy.decide("vault.store", {"name": "notes"}, RiskLevel.WRITE) == ("allow", "write operation")
    assert policy.decide("vault.shred", {"name": "tmp-1"}, RiskLevel.DESTRUCTIVE)[0] == "allow"
    assert policy.decide("vault.shred", {"name": "db"}, RiskLevel.DESTRUCTIVE) == (
        "ask",
        "destructive operation",
    )
    assert policy.decide("vault.peek", {}, RiskLevel.READ)[0] == "allow"
    assert policy.decide("vault.seal", {}, RiskLevel.WRITE, ask_first=True)[0] == "ask"
    tainted = policy.decide("vault.shred", {"name": "tmp-1"}, RiskLevel.DESTRUCTIVE, tainted_by="web.read")
    assert tainted[0] == "ask" and "untrusted output of web.read" in tainted[1]
    trusting = policy.model_copy(update={"ask_after_untrusted": False})
    trusted = trusting.decide("vault.shred", {"name": "tmp-1"}, RiskLevel.DESTRUCTIVE, tainted_by="x")
    assert trusted[0] == "allow"

    rules = tmp_path / "policy.toml"
    rules.write_text('[[rules]]\ntool = "vault.*"\ndecision = "deny"\nreason = "frozen"\n')
    merged = ApprovalPolicy(policy_file=rules).with_file_rules()
    assert merged.decide("vault.peek", {"name": "x"}, RiskLevel.READ) == ("deny", "frozen")
    for text, problem in (
        ("[[rules]]\ntool = 'x'\ndecision = 'maybe'\n", "rule 1: decision"),
        ("[rules", "not valid TOML"),
        ("owner = 'me'\n", "unknown keys"),
    ):
        rules.write_text(text)
        with pytest.raises(ConfigError, match=problem):
            ApprovalPolicy(policy_file=rules).with_file_rules()


async def start(
    kernel: Kernel, op: str, name: str, outcome: dict[str, object], *, after: str | None = None
) -> int:
    """A process making one vault call (after an earlier `vault.peek` of `after`, if given)."""

    async def program(pid: int) -> str:
        try:
            if after is not None:
                await kernel.syscall(pid, ToolSyscall(name="vault.peek", arguments={"name": after}))
            outcome["result"] = await kernel.syscall(
                pid, ToolSyscall(name=f"vault.{op}", arguments={"name": name})
            )
        except (PermissionDenied, ToolError) as e:
            outcome["denied"] = str(e)
        return "ok"

    return await kernel.spawn(program, agent="keeper", task="t", capabilities=["vault.*"])


async def pending(kernel: Kernel, pid: int, tool: str = "vault.shred") -> int:
    await until(lambda: kernel.process(pid).state == ProcessState.BLOCKED_APPROVAL, "the approval request")
    [request] = kernel.store.list_approvals()
    assert request.pid == pid and request.tool == tool
    return request.id


@pytest.fixture
def vault(kernel: Kernel) -> VaultDriver:
    driver = VaultDriver()
    kernel.drivers["vault"] = driver
    return driver


async def test_a_destructive_call_waits_for_approval_and_runs_once_approved(
    kernel: Kernel, vault: VaultDriver
) -> None:
    outcome: dict[str, object] = {}
    pid = await start(kernel, "shred", "db", outcome)
    approval = await pending(kernel, pid)
    assert vault.ran == []
    await kernel.decide(approval, True, by="alice")
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert vault.ran == [("shred", "db")] and "denied" not in outcome
    with pytest.raises(UnknownApproval, match="already approved"):
        await kernel.decide(approval, False, by="bob")
    kernel.store.flush()
    [row] = [r for r in kernel.store.audit(pid=pid) if r.kind == "tool"]
    assert row.status == "ok" and row.detail["approval"] == approval
    assert row.detail["approved_by"] == "alice"


async def test_denied_and_expired_requests_fail_the_call_and_run_nothing(
    kernel: Kernel, vault: VaultDriver
) -> None:
    outcome: dict[str, object] = {}
    pid = await start(kernel, "shred", "db", outcome)
    await kernel.decide(await pending(kernel, pid), False, by="alice", reason="not today")
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert "denied" in str(outcome["denied"]) and "not today" in str(outcome["denied"])

    kernel.approval_policy = ApprovalPolicy(timeout_s=0.3)
    late: dict[str, object] = {}
    pid = await start(kernel, "shred", "logs", late)
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert "expired" in str(late["denied"]) and vault.ran == []
    kernel.store.flush()
    assert [r.status for r in kernel.store.audit(pid=pid) if r.kind == "tool"] == ["denied"]


async def test_policy_rules_deny_by_argument_without_asking(kernel: Kernel, vault: VaultDriver) -> None:
    kernel.approval_policy = ApprovalPolicy(
        rules=[
            PolicyRule(
                tool="vault.store", arguments={"name": "secret*"}, decision="deny", reason="no secrets"
            )
        ]
    )
    refused: dict[str, object] = {}
    allowed: dict[str, object] = {}
    for name, outcome in (("secret-plan", refused), ("notes", allowed)):
        await kernel.wait(await start(kernel, "store", name, outcome))
    assert "no secrets" in str(refused["denied"]) and "result" in allowed
    assert vault.ran == [("store", "notes")] and kernel.store.list_approvals(pending_only=False) == []


async def test_killing_a_blocked_process_cancels_its_request(kernel: Kernel, vault: VaultDriver) -> None:
    pid = await start(kernel, "shred", "db", {})
    approval = await pending(kernel, pid)
    assert (await kernel.kill(pid)).state == ProcessState.KILLED
    request = kernel.store.get_approval(approval)
    assert request is not None and request.state == "cancelled" and vault.ran == []


async def test_aios_approve_from_another_process(
    kernel: Kernel, vault: VaultDriver, settings: Settings, tmp_path: Path, env: dict[str, str]
) -> None:
    outcome: dict[str, object] = {}
    pid = await start(kernel, "shred", "db", outcome)
    approval = await pending(kernel, pid)
    config = tmp_path / "config.toml"
    env = dict(env, AIOS_DATA_DIR=str(settings.data_dir))
    listed = await asyncio.to_thread(aios, "--config", str(config), "approvals", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "vault.shred" in listed.stdout, listed.stderr
    shown = await asyncio.to_thread(
        aios, "--config", str(config), "approvals", str(approval), env=env, cwd=tmp_path
    )
    assert shown.returncode == 0 and "dry run" in shown.stdout and "shred db" in shown.stdout, shown.stderr
    done = await asyncio.to_thread(
        aios, "--config", str(config), "approve", str(approval), env=env, cwd=tmp_path
    )
    assert done.returncode == 0 and f"approved request {approval}" in done.stdout, done.stderr
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert vault.ran == [("shred", "db")]
    again = await asyncio.to_thread(
        aios, "--config", str(config), "deny", str(approval), env=env, cwd=tmp_path
    )
    assert again.returncode == 2 and "already approved" in again.stderr


async def test_the_human_sees_the_dry_run_and_a_failing_dry_run_asks_nobody(
    kernel: Kernel, vault: VaultDriver
) -> None:
    pid = await start(kernel, "shred", "db", {})
    approval = await pending(kernel, pid)
    request = kernel.store.get_approval(approval)
    assert request is not None and request.preview == {"would": "shred db"}
    assert request.why == "destructive operation"
    await kernel.decide(approval, True, by="alice")
    await kernel.wait(pid)
    assert vault.released == [pid]

    outcome: dict[str, object] = {}
    await kernel.wait(await start(kernel, "shred", "missing", outcome))
    assert "no item 'missing'" in str(outcome["denied"])
    assert len(kernel.store.list_approvals(pending_only=False)) == 1 and vault.ran == [("shred", "db")]


async def test_ask_first_writes_and_tainted_destructive_calls_ask_even_when_a_rule_allows(
    kernel: Kernel, vault: VaultDriver
) -> None:
    pid = await start(kernel, "seal", "box", {})
    approval = await pending(kernel, pid, tool="vault.seal")
    await kernel.decide(approval, False, by="alice")
    await kernel.wait(pid)

    kernel.approval_policy = ApprovalPolicy(rules=[PolicyRule(tool="vault.shred", decision="allow")])
    clean: dict[str, object] = {}
    await kernel.wait(await start(kernel, "shred", "tmp", clean))
    assert "result" in clean
    pid = await start(kernel, "shred", "db", {}, after="inbox")
    request = kernel.store.get_approval(await pending(kernel, pid))
    assert request is not None and "untrusted output of vault.peek" in request.why
    assert ("shred", "db") not in vault.ran
    await kernel.kill(pid)


async def test_the_aios_run_prompt_shows_the_dry_run_and_takes_the_answer_from_the_terminal(
    kernel: Kernel, vault: VaultDriver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    master, replica = pty.openpty()
    terminal = os.fdopen(replica, "r")
    monkeypatch.setattr(sys, "stdin", terminal)
    stop = kernel.subscribe(Prompter(kernel, asyncio.get_running_loop()))
    try:
        outcome: dict[str, object] = {}
        pid = await start(kernel, "shred", "db", outcome)
        await pending(kernel, pid)
        os.write(master, b"y\n")
        assert (await kernel.wait(pid)).state == ProcessState.DONE
    finally:
        stop()
        terminal.close()
        os.close(master)
    assert vault.ran == [("shred", "db")] and "result" in outcome
    shown = capsys.readouterr().out
    assert "dry run of vault.shred" in shown and "shred db" in shown and "Allow? [y/N]" in shown
    [request] = kernel.store.list_approvals(pending_only=False)
    assert request.state == "approved" and "aios run prompt" in (request.decided_by or "")
