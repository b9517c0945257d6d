"""The ansible driver for real: playbooks on localhost in scratch dirs, the guard judged on system state."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aios.kernel.drivers import CallContext
from aios.kernel.errors import InvalidSyscall, PermissionDenied, ToolTimeout
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ToolSyscall
from aios.tools.ansible import AnsibleDriver
from aios.tools.ansible_args import PlaybookArgs
from aios.tools.ansible_inventory import parse_inventory
from aios.tools.configs import AnsibleConfig
from aios.tools.playbook_guard import GuardPolicy, guard_playbook

from ..fakes import until

GREETING = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: write the greeting
      ansible.builtin.copy:
        dest: greeting.txt
        content: "hello\\n"
"""


def play(*tasks: str, head: str = "") -> str:
    """A one-play playbook on localhost; each task is YAML text indented as a list item."""
    body = "".join(f"    - {task}\n" for task in tasks)
    return f"- hosts: localhost\n  gather_facts: false\n{head}  tasks:\n{body}"


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir the driver's private run folders go to, so a test can see what is left there."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def ctx(tmp_path: Path, system_tmp: Path) -> CallContext:
    work = tmp_path / "work"
    work.mkdir()
    return CallContext(pid=1, workdir=work)


@pytest.fixture
def driver() -> AnsibleDriver:
    return AnsibleDriver()


async def check(driver: AnsibleDriver, ctx: CallContext, playbook: str, **kw: Any) -> dict[str, Any]:
    return await driver.call("check", PlaybookArgs(playbook=playbook, **kw), ctx)


def policy(root: Path, inventory: str = "localhost ansible_connection=local") -> GuardPolicy:
    parsed = parse_inventory(inventory)
    return GuardPolicy(
        root=root,
        allowed_connections=frozenset({"local"}),
        inventory_hosts=parsed.hosts,
        hosts_without_connection=parsed.hosts_without_connection,
    )


async def test_check_changes_nothing_then_apply_changes_it_once(
    driver: AnsibleDriver, ctx: CallContext, system_tmp: Path
) -> None:
    health = await driver.health()
    assert health.ok and "ansible-playbook [core" in health.detail
    checked = await check(driver, ctx, GREETING)
    assert checked["ok"] and checked["mode"] == "check"
    assert checked["totals"]["changed"] == 1 and checked["totals"]["failed"] == 0
    [task] = checked["tasks"]
    assert task["task"] == "write the greeting" and task["host"] == "localhost"
    assert task["status"] == "changed" and "+hello" in task["diff"]
    assert os.listdir(ctx.workdir) == []  # nothing created, the staged playbook removed

    applied = await driver.call("apply", PlaybookArgs(playbook=GREETING), ctx)
    assert (ctx.workdir / "greeting.txt").read_text() == "hello\n"
    assert applied["ok"] and applied["mode"] == "apply" and not applied["preview_reused"]
    assert applied["predicted"]["changed"] == 1 and applied["totals"]["changed"] == 1
    assert applied["idempotent"] is True and applied["still_changing"] == []
    assert os.listdir(ctx.workdir) == ["greeting.txt"]
    assert os.listdir(system_tmp) == []


async def test_a_playbook_that_changes_things_every_run_is_not_idempotent(
    driver: AnsibleDriver, ctx: CallContext
) -> None:
    playbook = play(
        "name: keep a stamp\n      ansible.builtin.copy: {dest: stamp.txt, content: x}",
        "name: log every run\n      ansible.builtin.shell: echo run >> log.txt",
    )
    applied = await driver.call("apply", PlaybookArgs(playbook=playbook), ctx)
    assert applied["ok"] and applied["totals"]["changed"] == 2
    assert applied["idempotent"] is False
    assert applied["still_changing"] == ["log every run @ localhost"]
    # two check runs and one real run: the shell ran once
    assert (ctx.workdir / "log.txt").read_text() == "run\n"


async def test_a_failed_task_is_reported_with_its_message_within_the_output_limit(ctx: CallContext) -> None:
    driver = AnsibleDriver(AnsibleConfig(max_output_chars=2000))
    playbook = play(
        "name: a big file\n      ansible.builtin.copy: {dest: big.txt, content: \"{{ 'line\\n' * 2000 }}\"}",
        "name: needs the config\n      ansible.builtin.file: {path: missing.conf, state: file}",
        "name: never reached\n      ansible.builtin.copy: {dest: after.txt, content: x}",
    )
    report = await check(driver, ctx, playbook)
    assert len(json.dumps(report)) <= 2000 and report["truncated"]
    assert report["totals"]["changed"] == 1 and report["tasks"][0]["diff"].endswith("[... cut]")
    assert report["ok"] is False and report["totals"]["failed"] == 1
    [failed] = [t for t in report["tasks"] if t["status"] == "failed"]
    assert failed["task"] == "needs the config" and "missing.conf" in failed["msg"]
    assert "never reached" not in [t["task"] for t in report["tasks"]]


async def test_a_broken_playbook_is_a_clear_error(driver: AnsibleDriver, ctx: CallContext) -> None:
    with pytest.raises(InvalidSyscall, match=r"^playbook is not valid YAML at line 3, column 5: expected"):
        await check(driver, ctx, "- hosts: localhost\n  tasks: [\n    - debug: {msg: hi\n")
    with pytest.raises(InvalidSyscall, match="'taskz' is not a valid attribute for a Play"):
        await check(driver, ctx, "- hosts: localhost\n  gather_facts: false\n  taskz: []\n")
    with pytest.raises(ValidationError, match="exactly one of playbook"):
        PlaybookArgs.model_validate({"inventory": "localhost"})
    with pytest.raises(InvalidSyscall, match="outside the process's work dir"):
        await driver.call("check", PlaybookArgs(playbook_file="../elsewhere.yml"), ctx)
    assert os.listdir(ctx.workdir) == []


async def test_the_guard_stops_what_check_mode_would_run_for_real(
    driver: AnsibleDriver, ctx: CallContext, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    forced = play(f"ansible.builtin.command: touch {marker}\n      check_mode: false")
    piped = play(f"ansible.builtin.debug:\n        msg: \"{{{{ lookup('pipe', 'touch {marker}') }}}}\"")
    looped = play(f"ansible.builtin.debug: {{msg: '{{{{ item }}}}'}}\n      with_pipe: touch {marker}")
    for playbook, problem in (
        (forced, "check_mode: False makes the task run for real"),
        (piped, "calls a lookup"),
        (looped, "with_pipe runs the pipe lookup"),
    ):
        for operation in ("check", "apply"):
            with pytest.raises(InvalidSyscall, match=problem):
                await driver.call(operation, PlaybookArgs(playbook=playbook), ctx)
        with pytest.raises(InvalidSyscall, match=problem):
            await driver.preview("apply", PlaybookArgs(playbook=playbook), ctx)
    assert not marker.exists()
    # without the guard, ansible's --check does run it: the guard is what keeps the check read-only
    path = tmp_path / "forced.yml"
    path.write_text(forced)
    playbook_bin = str(Path(sysconfig.get_path("scripts")) / "ansible-playbook")
    python = f"ansible_python_interpreter={sys.executable}"
    ran = await asyncio.to_thread(
        subprocess.run,
        [playbook_bin, "-i", "localhost,", "-c", "local", "-e", python, "--check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert marker.exists()


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        ("local_action: {module: command, cmd: id}", "local_action"),
        ("ansible.builtin.ping:\n      delegate_to: db.example.com", "delegate_to 'db.example.com'"),
        ("ansible.builtin.ping:\n      become: true", "become is not allowed"),
        ("ansible.builtin.ping:\n      environment: {LD_PRELOAD: /tmp/x.so}", "'LD_PRELOAD' is not allowed"),
        ("ansible.builtin.git: {repo: x, dest: y}\n      environment: {HOME: .}", "'HOME' is not allowed"),
        ("ansible.builtin.pip: {name: six, executable: ./pip}", "executable names a program"),
        ("ansible.builtin.git: repo=ssh://h/r dest=r ssh_opts=-oProxyCommand=id", "ssh_opts names a program"),
        ("ansible.builtin.setup: {fact_path: facts.d}", "fact_path names a program"),
        ('ansible.builtin.pip: "{{ pip_args }}"', "must be written out"),
        (
            "ansible.builtin.ping:\n      vars: {ansible_python_interpreter: /bin/sh}",
            "ansible_python_interpreter",
        ),
        ("ansible.builtin.set_fact: {ansible_shell_executable: /tmp/sh}", "ansible_shell_executable"),
        ("ansible.builtin.ping:\n      register: ansible_python_interpreter", "register"),
        ("ansible.builtin.ping:\n      connection: ssh", "connection 'ssh' is not allowed"),
        ("ansible.builtin.add_host: {name: evil}", "add_host"),
        ("ansible.builtin.pause: {prompt: continue}", "waits for a person"),
        ("ansible.builtin.include_role: {name: web}", "roles are not supported"),
        ("ansible.builtin.include_tasks: ../outside.yml", "outside.yml"),
        ('ansible.builtin.include_tasks: "{{ which }}.yml"', "literal path"),
        ("ansible.builtin.debug: {msg: \"{{ ''.__class__ }}\"}", "private attribute __class__"),
        ("ansible.builtin.debug: {msg: \"{{ query('env', 'HOME') }}\"}", "lookup"),
        ("ansible.builtin.ping:\n      when: q('pipe', 'id')", "lookup"),
        ("ansible.builtin.ping:\n      when: (lookup)", "uses lookup"),
        ("ansible.builtin.copy: {src: /etc/hostname, dest: x}", "relative to the playbook"),
    ],
)
def test_the_guard_refuses_other_escapes(tmp_path: Path, task: str, problem: str) -> None:
    (tmp_path.parent / "outside.yml").write_text("- ansible.builtin.ping:\n")
    with pytest.raises(InvalidSyscall, match=problem):
        guard_playbook(play(task), path=tmp_path / "site.yml", policy=policy(tmp_path))


def test_the_guard_lets_an_ordinary_playbook_through(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "site.conf.j2").write_text(
        "server {{ name }}\n{% for p in ports %}port {{ p }}\n{% endfor %}"
    )
    playbook = """\
- name: a small site
  hosts: all
  vars: {name: demo, ports: [80, 443]}
  module_defaults:
    ansible.builtin.file: {mode: "0644"}
  environment: {https_proxy: "http://proxy:3128", LC_ALL: C.UTF-8}
  handlers:
    - name: reload
      ansible.builtin.debug: {msg: reloaded}
  tasks:
    - block:
        - ansible.builtin.template: {src: site.conf.j2, dest: site.conf}
          notify: reload
          when: ansible_facts['os_family'] == 'Debian' or name is defined
        - ansible.builtin.lineinfile: {path: ports, line: "{{ item }}", create: true}
          loop: "{{ ports | map('string') | list }}"
          register: lines
      rescue:
        - ansible.builtin.debug: {msg: !unsafe "{{ lookup('pipe', 'not templated') }}"}
    - ansible.builtin.shell: echo ready > ready.txt
      args: {creates: ready.txt, executable: /bin/bash}
      check_mode: true
    - ansible.builtin.assert: {that: ["lines is defined"]}
      delegate_to: localhost
      with_items: [1, 2]
"""
    checked = guard_playbook(playbook, path=tmp_path / "site.yml", policy=policy(tmp_path))
    assert set(checked.files) == {"site.yml", "templates/site.conf.j2"}
    strict = GuardPolicy(
        root=tmp_path, allowed_connections=frozenset({"local"}), allowed_modules=frozenset({"copy"})
    )
    with pytest.raises(InvalidSyscall, match=r"module ansible\.builtin\.template is not allowed"):
        guard_playbook(playbook, path=tmp_path / "site.yml", policy=strict)


def test_the_guard_checks_every_file_the_playbook_pulls_in(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "setup.yml").write_text("- ansible.builtin.command: id\n  check_mode: false\n")
    (tmp_path / "motd.j2").write_text("{{ lookup('pipe', 'id') }}\n")
    (tmp_path / "vars.yml").write_text("ansible_ssh_common_args: -o ProxyCommand=id\n")
    cases = [
        (play("ansible.builtin.import_tasks: tasks/setup.yml"), "tasks/setup.yml.*check_mode"),
        (play("ansible.builtin.template: {src: motd.j2, dest: /tmp/motd}"), "template motd.j2.*lookup"),
        (
            play("ansible.builtin.ping:", head="  vars_files: [vars.yml]\n"),
            "vars.yml.*ansible_ssh_common_args",
        ),
        (play("ansible.builtin.include_vars: vars.yml"), "ansible_ssh_common_args"),
        ("- ansible.builtin.import_playbook: missing.yml\n", "'missing.yml' is not a file"),
        (play("ansible.builtin.ping:", head="  roles: [web]\n"), "roles are not supported"),
        (play("ansible.builtin.ping:", head="  vars_prompt: [{name: pw}]\n"), "vars_prompt"),
        (play("ansible.builtin.ping: {}\n      ansible.builtin.ping: {}"), "duplicate key"),
    ]
    for text, problem in cases:
        with pytest.raises(InvalidSyscall, match=problem):
            guard_playbook(text, path=tmp_path / "site.yml", policy=policy(tmp_path))
    (tasks / "setup.yml").write_text("- ansible.builtin.copy: {src: motd.j2, dest: /tmp/motd}\n")
    checked = guard_playbook(
        play(
            "ansible.builtin.import_tasks: tasks/setup.yml", 'ansible.builtin.debug: {msg: !unsafe "{{ x }}"}'
        ),
        path=tmp_path / "site.yml",
        policy=policy(tmp_path),
    )
    assert set(checked.files) == {"site.yml", "tasks/setup.yml", "motd.j2"}
    (tmp_path / "filter_plugins").mkdir()
    with pytest.raises(InvalidSyscall, match="filter_plugins/ beside the playbook"):
        guard_playbook(play("ansible.builtin.ping:"), path=tmp_path / "site.yml", policy=policy(tmp_path))


def guard_inventory(root: Path, inventory: str) -> None:
    parsed = parse_inventory(inventory)
    guard_playbook(
        play("ansible.builtin.ping:"),
        path=root / "site.yml",
        policy=policy(root, inventory),
        inventory=parsed,
    )


def test_the_guard_checks_inventories_and_extra_vars(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    for inventory, problem in (
        (
            "localhost ansible_connection=local ansible_python_interpreter=/bin/sh",
            "ansible_python_interpreter",
        ),
        ("[all:vars]\nansible_connection=ssh\n[web]\nlocalhost\n", "connection 'ssh' is not allowed"),
        ("web1.example.com\n", "set no ansible_connection, so ansible would use ssh"),
        ("[web\nlocalhost\n", "ansible cannot read the inventory"),
    ):
        with pytest.raises(InvalidSyscall, match=problem):
            guard_inventory(tmp_path, inventory)
    with pytest.raises(InvalidSyscall, match="ansible_become_password"):
        guard_playbook(
            play("ansible.builtin.ping:"),
            path=site,
            policy=policy(tmp_path),
            extra_vars={"ansible_become_password": "x"},
        )
    grouped = "[local]\nlocalhost\n[local:vars]\nansible_connection=local\n"
    guard_playbook(
        play("ansible.builtin.ping:\n      delegate_to: localhost"),
        path=site,
        policy=policy(tmp_path, grouped),
        inventory=parse_inventory(grouped),
    )


async def test_secrets_in_the_environment_never_reach_ansible_or_disk(
    driver: AnsibleDriver, ctx: CallContext, system_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-test-{secrets.token_hex(12)}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    playbook = "- hosts: localhost\n  tasks:\n    - ansible.builtin.debug: {msg: '{{ ansible_env }}'}\n"
    report = await check(driver, ctx, playbook)
    assert report["ok"], report
    [shown] = [t["msg"] for t in report["tasks"] if t["task"] == "ansible.builtin.debug"]
    assert "PATH" in shown and "LANG" in shown  # the module's environment is really in the report
    assert secret not in json.dumps(report) and "OPENAI_API_KEY" not in shown
    assert os.listdir(system_tmp) == [] and os.listdir(ctx.workdir) == []
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def ansible_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry.name))
    return found


async def test_a_run_past_the_time_limit_is_killed(ctx: CallContext) -> None:
    driver = AnsibleDriver(AnsibleConfig(timeout_s=3))
    # a long loop (check mode cannot run `pause` without a terminal, nor `wait_for` at all)
    playbook = play('ansible.builtin.debug: {msg: tick}\n      loop: "{{ range(1000000) | list }}"')
    with pytest.raises(ToolTimeout, match="ran past 3s"):
        await check(driver, ctx, playbook)
    await until(lambda: not ansible_processes(str(ctx.workdir)), "the ansible processes to be gone")
    assert os.listdir(ctx.workdir) == []


async def test_apply_through_the_kernel_waits_for_a_human_who_sees_the_check(kernel: Kernel) -> None:
    driver = AnsibleDriver()
    kernel.drivers[driver.name] = driver
    assert driver.operations()["apply"].ask_first

    async def start(outcome: dict[str, Any]) -> int:
        async def program(pid: int) -> str:
            try:
                outcome["result"] = await kernel.syscall(
                    pid, ToolSyscall(name="ansible.apply", arguments={"playbook": GREETING})
                )
            except PermissionDenied as e:
                outcome["denied"] = str(e)
            return "ok"

        return await kernel.spawn(program, agent="iac-test", task="t", capabilities=["ansible.*"])

    async def pending(pid: int) -> Any:
        await until(
            lambda: kernel.process(pid).state == ProcessState.BLOCKED_APPROVAL, "the approval request"
        )
        [request] = kernel.store.list_approvals()
        assert request.pid == pid and request.tool == "ansible.apply"
        return request

    refused: dict[str, Any] = {}
    pid = await start(refused)
    request = await pending(pid)
    assert request.preview["mode"] == "check" and request.preview["totals"]["changed"] == 1
    assert "+hello" in request.preview["tasks"][0]["diff"]
    await kernel.decide(request.id, False, by="alice", reason="not now")
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    assert "denied" in refused["denied"]
    assert not (kernel.workdir(pid) / "greeting.txt").exists()

    approved: dict[str, Any] = {}
    pid = await start(approved)
    request = await pending(pid)
    assert not (kernel.workdir(pid) / "greeting.txt").exists()
    await kernel.decide(request.id, True, by="alice")
    assert (await kernel.wait(pid)).state == ProcessState.DONE
    output = approved["result"].output
    assert output["ok"] and output["preview_reused"] and output["idempotent"] is True
    assert (kernel.workdir(pid) / "greeting.txt").read_text() == "hello\n"
