"""Inventories read by ansible's own inventory plugins, so the guard sees the hosts and variables a run will.

A run and the guard agree on the plugins, their order (`INVENTORY_PLUGINS`: yaml, then ini, as in ansible's
defaults) and the file's name (`INVENTORY_FILE`: no extension, so both plugins consider it), so even text
that both plugins accept is read by the same one in both. Only these two plugins are enabled:
neither runs a program or renders a template, unlike `script`, `auto` or `constructed`. The inventory sits
alone in a private folder, so no `group_vars/` or `host_vars/` beside it add variables.

ansible is imported on the first inventory read, never with every `aios` command. It parses inside the
daemon, so what would make it run away there is refused first: host ranges that expand to more than
`MAX_RANGE_HOSTS` names (`h[0:999999999]`), and YAML aliases (a few lines of them can make the yaml plugin
walk the same groups over and over).
"""

from __future__ import annotations

import math
import re
import shlex
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios.kernel.errors import InvalidSyscall

if TYPE_CHECKING:
    from ansible.inventory.data import InventoryData

INVENTORY_PLUGINS = ("yaml", "ini")
"""The inventory plugins a run enables (ANSIBLE_INVENTORY_ENABLED), in the order ansible tries them."""
INVENTORY_FILE = "hosts"
"""The inventory's file name in a run's private folder and in the guard's."""
CONNECTION_VAR = "ansible_connection"
MAX_INVENTORY_CHARS = 1024 * 1024
MAX_RANGE_HOSTS = 10_000
RANGE = re.compile(r"\[([^\[\]]*)\]")
"""A `[begin:end]` or `[begin:end:step]` range of a host pattern (what ansible expands)."""
LETTERS = 52
"""The most names an alphabetic range makes (ansible's ranges run over ascii letters)."""

_parsing = threading.Lock()  # ansible's plugin loaders and display are process-wide, not made for threads


@dataclass(frozen=True, kw_only=True)
class Inventory:
    """An inventory as ansible reads it."""

    hosts: frozenset[str]
    """Every host, ranges expanded (`web[01:02]` is web01 and web02)."""
    variables: tuple[tuple[str, str, Any], ...]
    """(where, name, value) for every variable a group or host sets."""
    hosts_without_connection: tuple[str, ...]
    """Hosts for which neither they nor any group they belong to (through children too) set a connection."""


def parse_inventory(text: str) -> Inventory:
    """Read an inventory (YAML or INI text) exactly as a run will; InvalidSyscall when ansible cannot."""
    if len(text) > MAX_INVENTORY_CHARS:
        raise InvalidSyscall(f"the inventory is longer than {MAX_INVENTORY_CHARS} characters")
    _refuse_runaways(text)
    with tempfile.TemporaryDirectory(prefix="aios-inventory-") as folder:
        path = Path(folder) / INVENTORY_FILE
        path.write_text(text)
        with _parsing:
            data = _read(str(path))
    return _summarise(data)


def _refuse_runaways(text: str) -> None:
    """Refuse host ranges too large to expand and YAML aliases, counting every form ansible may read.

    Ranges are counted in each INI line, in its shell-like tokens (quotes removed, as the ini plugin does)
    and in each YAML scalar (escapes resolved); a range found in several forms counts each time.
    """
    import yaml  # loads with the first inventory, as the guard's parsers do

    lines = text.splitlines()
    pieces = list(lines)
    for line in lines:
        try:
            pieces += shlex.split(line, comments=True)
        except ValueError:
            continue  # the ini plugin refuses the line too
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        events = []  # not YAML: only the ini plugin can read it
    if any(isinstance(event, yaml.AliasEvent) for event in events):
        raise InvalidSyscall("the inventory uses YAML aliases (*name); write its groups and hosts out")
    pieces += [event.value for event in events if isinstance(event, yaml.ScalarEvent)]
    expanded = sum(_range_hosts(piece) for piece in pieces)
    if expanded > MAX_RANGE_HOSTS:
        raise InvalidSyscall(f"the inventory's host ranges make more than {MAX_RANGE_HOSTS} hosts")


def _range_hosts(pattern: str) -> int:
    """Names ansible makes of the ranges in `pattern` (each range multiplies); 0 without a range."""
    sizes = [_range_size(match.group(1)) for match in RANGE.finditer(pattern)]
    return math.prod(sizes) if sizes else 0


def _range_size(bounds: str) -> int:
    """Names one range makes, computed as ansible's `expand_hostname_range` would (an upper bound)."""
    parts = bounds.split(":")
    if len(parts) not in (2, 3):
        return 1  # ansible refuses it
    begin, end, step = parts[0] or "0", parts[1], parts[2] if len(parts) == 3 else "1"
    try:
        return len(range(int(begin), int(end) + 1, int(step)))
    except ValueError:
        return LETTERS  # letters, or bounds ansible refuses
    except OverflowError:
        return MAX_RANGE_HOSTS + 1


def _read(path: str) -> InventoryData:
    """What ansible's InventoryManager does with one file source, with only `INVENTORY_PLUGINS` enabled.

    The manager reads the enabled plugins from ansible's global configuration (the daemon's ansible.cfg,
    its environment); the guard must not depend on either, and needs the plugins' errors as text.
    """
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import inventory_loader

    data = InventoryData()
    data.current_source = path
    loader = DataLoader()
    failures: list[str] = []
    for name in INVENTORY_PLUGINS:
        plugin = inventory_loader.get(name)
        assert plugin is not None, f"ansible-core has no {name} inventory plugin"
        try:
            wanted = bool(plugin.verify_file(path))
        except Exception:  # as ansible: a plugin that cannot tell does not want the file
            wanted = False
        if not wanted:
            continue
        try:
            plugin.parse(data, loader, path, cache=False)
        except Exception as e:  # as ansible: any failure hands the file to the next plugin
            failures.append(f"as {name}: {getattr(e, 'message', None) or e}")
            continue
        data.reconcile_inventory()
        return data
    detail = "; ".join(failures).replace(path, "inventory") or "no inventory plugin accepts it"
    raise InvalidSyscall(f"ansible cannot read the inventory ({detail})")


def _summarise(data: InventoryData) -> Inventory:
    groups = sorted(data.groups.values(), key=lambda g: g.name)
    hosts = sorted(data.hosts.values(), key=lambda h: h.name)
    variables = [
        (f"inventory group {group.name}", str(name), value)
        for group in groups
        for name, value in group.vars.items()
    ]
    variables += [
        (f"inventory host {host.name}", str(name), value)
        for host in hosts
        for name, value in host.vars.items()
    ]
    unconnected = tuple(
        host.name
        for host in hosts
        if CONNECTION_VAR not in host.vars and not any(CONNECTION_VAR in g.vars for g in host.get_groups())
    )
    return Inventory(
        hosts=frozenset(h.name for h in hosts),
        variables=tuple(variables),
        hosts_without_connection=unconnected,
    )
