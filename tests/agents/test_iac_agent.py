"""The iac agent on the embedded model: its checks reach the real driver; applying needs a human."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from aios.agent_launch import spawn_agent
from aios.agents.iac import IacAgent, render_playbook
from aios.kernel.approvals import ApprovalPolicy, PolicyRule
from aios.kernel.drivers import CallContext
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.ansible import AnsibleDriver
from aios.tools.ansible_args import PlaybookArgs


class RecordingAnsible(AnsibleDriver):
    """The real driver, noting which operations reached it and with which (validated) arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, BaseModel]] = []

    async def call(self, operation: str, args: Any, ctx: CallContext) -> dict[str, Any]:
        self.calls.append((operation, args))
        return await super().call(operation, args, ctx)


def test_the_models_tasks_become_a_playbook() -> None:
    reply = json.dumps(
        {"tasks": [{"name": "greet", "module": "copy", "args": {"dest": "a.txt", "content": "hi"}}]}
    )
    text = render_playbook(reply)
    assert "ansible.builtin.copy:" in text and "hosts: all" in text
    with pytest.raises(ValueError, match="not the JSON asked for"):
        render_playbook('{"tasks": [{"name": "x"}]}')


@pytest.mark.model
async def test_iac_checks_through_the_driver_and_stops_at_a_denied_apply(model_kernel: Kernel) -> None:
    driver = RecordingAnsible()
    model_kernel.drivers[driver.name] = driver
    model_kernel.approval_policy = ApprovalPolicy(
        rules=[PolicyRule(tool="ansible.apply", decision="deny", reason="nobody approves in tests")]
    )
    pid = await spawn_agent(
        model_kernel, IacAgent, "Create a file named hello.txt that contains the word hello."
    )
    record = await asyncio.wait_for(model_kernel.wait(pid), timeout=300)
    assert record.state == ProcessState.DONE, record.error
    checks = [args for operation, args in driver.calls if operation == "check"]
    assert checks and all(isinstance(a, PlaybookArgs) and a.playbook for a in checks)
    assert [operation for operation, _ in driver.calls if operation == "apply"] == []
    assert not (model_kernel.workdir(pid) / "hello.txt").exists()
    await asyncio.to_thread(model_kernel.store.flush)
    tools = [(r.target, r.status) for r in model_kernel.store.audit(pid=pid) if r.kind == "tool"]
    assert ("ansible.apply", "denied") in tools, tools
    assert record.result is not None and "denied" in record.result
