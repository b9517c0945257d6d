"""Inventories as the guard reads them, compared with what ansible itself reads; forms the guard's old
hand-written INI parser did not understand (YAML, ranges, groups of groups) must be judged like plain INI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aios.kernel.drivers import CallContext
from aios.kernel.errors import InvalidSyscall
from aios.tools.ansible import AnsibleDriver
from aios.tools.ansible_args import PlaybookArgs
from aios.tools.ansible_inventory import INVENTORY_FILE, INVENTORY_PLUGINS, parse_inventory
from aios.tools.ansible_run import base_environment, bin_dir
from aios.tools.configs import AnsibleConfig
from aios.tools.playbook_guard import GuardPolicy, guard_playbook

RANGES_AND_CHILDREN = """\
[web]
web[01:03].example.com
[prod:children]
web
[prod:vars]
ansible_connection=local
[db]
db[a:b].example.com port=5432
"""
YAML_NESTED = """\
all:
  children:
    outer:
      vars: {ansible_connection: local}
      children:
        inner:
          hosts:
            app[1:2].example.com:
    loose:
      hosts:
        hidden.example.com:
"""
YAML_LOCAL = """\
all:
  children:
    machines:
      vars: {ansible_connection: local}
      hosts:
        localhost:
"""


def ansible_reads(inventory: str, folder: Path) -> dict[str, dict[str, Any]]:
    """Host -> variables, as `ansible-inventory` reads the text with the plugins and file name of a run."""
    path = folder / INVENTORY_FILE
    path.write_text(inventory)
    (folder / "ansible.cfg").write_text("[defaults]\n")
    env = {
        **base_environment(),
        "ANSIBLE_CONFIG": str(folder / "ansible.cfg"),
        "ANSIBLE_INVENTORY_ENABLED": ",".join(INVENTORY_PLUGINS),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    }
    listed = subprocess.run(
        [str(bin_dir() / "ansible-inventory"), "--list", "-i", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    groups: dict[str, Any] = json.loads(listed.stdout)
    hostvars: dict[str, dict[str, Any]] = groups.pop("_meta")["hostvars"]
    hosts = {h for group in groups.values() for h in group.get("hosts", [])} | set(hostvars)
    return {host: hostvars.get(host, {}) for host in hosts}


def guard(root: Path, inventory: str, task: str = "ansible.builtin.ping:") -> None:
    """The guard's verdict on an agent-given inventory, as the driver asks for it."""
    parsed = parse_inventory(inventory)
    policy = GuardPolicy(
        root=root,
        allowed_connections=frozenset({"local"}),
        inventory_hosts=parsed.hosts,
        hosts_without_connection=parsed.hosts_without_connection,
    )
    playbook = f"- hosts: all\n  gather_facts: false\n  tasks:\n    - {task}\n"
    guard_playbook(playbook, path=root / "site.yml", policy=policy, inventory=parsed)


@pytest.mark.parametrize("inventory", [RANGES_AND_CHILDREN, YAML_NESTED, YAML_LOCAL])
def test_the_guard_reads_an_inventory_as_ansible_does(inventory: str, tmp_path: Path) -> None:
    expected = ansible_reads(inventory, tmp_path)
    parsed = parse_inventory(inventory)
    assert parsed.hosts == frozenset(expected)
    unconnected = sorted(
        host for host, variables in expected.items() if "ansible_connection" not in variables
    )
    assert list(parsed.hosts_without_connection) == unconnected


def test_hosts_in_ranges_and_nested_groups_are_the_hosts_the_guard_judges(tmp_path: Path) -> None:
    ranges = parse_inventory(RANGES_AND_CHILDREN)
    assert {"web01.example.com", "web03.example.com", "dba.example.com"} <= ranges.hosts
    assert ranges.hosts_without_connection == ("dba.example.com", "dbb.example.com")
    with pytest.raises(
        InvalidSyscall, match=r"hosts dba\.example\.com, dbb\.example\.com set no ansible_connection"
    ):
        guard(tmp_path, RANGES_AND_CHILDREN)
    # the range's hosts are inventory hosts: connected through a parent group, delegating to one is fine
    served = "[web]\nweb[01:03].example.com\n[prod:children]\nweb\n[prod:vars]\nansible_connection=local\n"
    guard(tmp_path, served, "ansible.builtin.ping:\n      delegate_to: web02.example.com")
    with pytest.raises(InvalidSyscall, match=r"hosts hidden\.example\.com set no ansible_connection"):
        guard(tmp_path, YAML_NESTED)


@pytest.mark.parametrize(
    ("inventory", "problem"),
    [
        (  # a program to run, set for a group two levels down
            "all:\n  vars: {ansible_connection: local}\n  children:\n    a:\n      children:\n        b:\n"
            "          vars: {ansible_ssh_common_args: -o ProxyCommand=id}\n          hosts: {h1: }\n",
            "inventory group b: sets ansible_ssh_common_args",
        ),
        (  # an interpreter set on a host of a range
            "all:\n  hosts:\n    web[1:2]:\n      ansible_connection: local\n"
            "      ansible_python_interpreter: /bin/sh\n",
            "inventory host web1: sets ansible_python_interpreter",
        ),
        (
            "all:\n  children:\n    web:\n      vars: {ansible_connection: ssh}\n      hosts: {h1: }\n",
            "connection 'ssh' is not allowed",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_connection: local\n"
            "      motd: \"{{ lookup('pipe', 'id') }}\"\n",
            "calls a lookup",
        ),
        (  # values are scanned like a playbook's: a become key at any depth is refused
            "all:\n  hosts:\n    h1:\n      ansible_connection: local\n"
            "      app: {settings: {become: true}}\n",
            "become is not allowed",
        ),
        (
            "[web]\nweb[1:2] ansible_connection=local ansible_shell_executable=/tmp/sh\n",
            "ansible_shell_executable",
        ),
    ],
)
def test_the_guard_refuses_what_an_inventory_hides_in_forms_ini_lines_did_not_show(
    tmp_path: Path, inventory: str, problem: str
) -> None:
    with pytest.raises(InvalidSyscall, match=problem):
        guard(tmp_path, inventory)


def test_an_inventory_ansible_cannot_read_is_refused_before_anything_runs() -> None:
    for text in ("[web\nlocalhost\n", "plugin: constructed\n", "all:\n  hosts: [a, b]\n"):
        with pytest.raises(InvalidSyscall, match=r"^ansible cannot read the inventory \(as yaml: ") as caught:
            parse_inventory(text)
        assert "aios-inventory-" not in caught.value.message  # the guard's own file is not named


async def test_health_reports_a_configured_inventory_ansible_cannot_read() -> None:
    assert (await AnsibleDriver().health()).ok
    broken = AnsibleConfig(inventory="[web\nlocalhost\n")  # reading the configuration loads no ansible
    health = await AnsibleDriver(broken).health()
    assert not health.ok and health.detail.startswith(
        "the configured inventory: ansible cannot read the inventory"
    )


@pytest.mark.parametrize(
    ("inventory", "problem"),
    [
        ("h[0:20000]\n", "host ranges make more than 10000 hosts"),
        ("h[0:200]-x[0:200]\n", "host ranges make more than 10000 hosts"),
        ('h[0:2"0000"] ansible_connection=local\n', "host ranges make more than 10000 hosts"),
        ('all:\n  hosts:\n    "h\\x5b0:20000\\x5d":\n', "host ranges make more than 10000 hosts"),
        ("all:\n  children:\n    a: &g {hosts: {h1: }}\n    b: *g\n", "YAML aliases"),
    ],
)
def test_what_would_make_ansible_run_away_in_the_daemon_is_refused_before_it_parses(
    inventory: str, problem: str
) -> None:
    with pytest.raises(InvalidSyscall, match=problem):
        parse_inventory(inventory)


async def test_a_check_runs_with_the_yaml_inventory_it_was_guarded_with(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ctx = CallContext(pid=1, workdir=work)
    playbook = (
        "- hosts: machines\n  gather_facts: false\n  tasks:\n"
        "    - name: say where\n      ansible.builtin.debug: {msg: '{{ group_names }}'}\n"
    )
    report = await AnsibleDriver().call("check", PlaybookArgs(playbook=playbook, inventory=YAML_LOCAL), ctx)
    assert report["ok"], report
    [task] = report["tasks"]
    assert task["host"] == "localhost" and "machines" in task["msg"]
    hidden = YAML_LOCAL + "    other:\n      hosts:\n        elsewhere.example.com:\n"
    with pytest.raises(InvalidSyscall, match=r"elsewhere\.example\.com set no ansible_connection"):
        await AnsibleDriver().call("check", PlaybookArgs(playbook=playbook, inventory=hidden), ctx)


def test_loading_the_driver_does_not_load_ansible() -> None:
    probe = (
        "import sys\n"
        "import aios.tools.registry, aios.tools.playbook_guard, aios.tools.ansible_inventory\n"
        "print(sorted(m for m in ('ansible', 'ansible_runner') if m in sys.modules))\n"
        "aios.tools.ansible_inventory.parse_inventory('localhost')\n"
        "print('ansible' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "True"]
