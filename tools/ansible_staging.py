"""A call's playbook made ready to run: guarded with its inventory and extra vars, put where ansible reads it.

YAML text is written into the work dir (so relative paths resolve among the agent's files) under a generated
name, and removed when the call ends. The key names exactly what was checked (the files the guard read and
the arguments), so an apply reuses the check its approver saw only when nothing changed since.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios.kernel.drivers import CallContext
from aios.kernel.errors import InvalidSyscall
from aios.tools.ansible_args import PlaybookArgs
from aios.tools.configs import AnsibleConfig

if TYPE_CHECKING:
    from aios.tools.playbook_guard import GuardResult


@dataclass(frozen=True, kw_only=True)
class StagedPlaybook:
    """A guarded playbook ready to run, and the key of exactly what was checked."""

    playbook: Path
    name: str
    """How reports call the playbook (YAML text is staged under a generated file name)."""
    inventory: str
    """Inventory text, the call's or the configured one."""
    extra_vars: dict[str, Any]
    key: str


@contextlib.asynccontextmanager
async def stage_playbook(
    args: PlaybookArgs, ctx: CallContext, config: AnsibleConfig
) -> AsyncIterator[StagedPlaybook]:
    """Guard the call's playbook; YAML text is written into the work dir for the run, then removed."""
    root = ctx.workdir.resolve()
    if args.playbook is not None:
        path, text = root / f".aios-playbook-{secrets.token_hex(6)}.yml", args.playbook
    else:
        assert args.playbook_file is not None
        path = _playbook_file(args.playbook_file, root)
        text = await asyncio.to_thread(_read_text, path, config.max_playbook_chars)
    if len(text) > config.max_playbook_chars:
        raise InvalidSyscall(f"the playbook is longer than {config.max_playbook_chars} characters")
    name = "playbook" if args.playbook is not None else str(args.playbook_file)
    checked = await asyncio.to_thread(_guard, text, path=path, name=name, root=root, args=args, config=config)
    arguments = json.dumps(args.model_dump(), sort_keys=True, default=str)
    key = hashlib.sha256(f"{root}\n{arguments}\n{checked.digest}".encode()).hexdigest()
    written = args.playbook is not None
    if written:
        await asyncio.to_thread(path.write_text, text)
    try:
        yield StagedPlaybook(
            playbook=path,
            name=name,
            inventory=config.inventory if args.inventory is None else args.inventory,
            extra_vars=args.extra_vars,
            key=key,
        )
    finally:
        if written:
            path.unlink(missing_ok=True)


def _guard(
    text: str, *, path: Path, name: str, root: Path, args: PlaybookArgs, config: AnsibleConfig
) -> GuardResult:
    """The guard's verdict on the playbook, the inventory the run will use and the extra vars.

    The configured inventory is trusted (its variables are not checked) but still tells the guard which
    hosts exist and which of them ansible would reach over ssh.
    """
    # ansible's inventory plugins and the guard's YAML and Jinja parsers load on the first playbook,
    # not with every `aios` command
    from aios.tools.ansible_inventory import parse_inventory
    from aios.tools.playbook_guard import GuardPolicy, guard_playbook

    inventory = parse_inventory(config.inventory if args.inventory is None else args.inventory)
    policy = GuardPolicy(
        root=root,
        allowed_connections=frozenset(config.allowed_connections),
        allow_become=config.allow_become,
        allowed_environment=tuple(config.allowed_environment),
        allowed_modules=frozenset(config.allowed_modules),
        inventory_hosts=inventory.hosts,
        hosts_without_connection=inventory.hosts_without_connection,
    )
    return guard_playbook(
        text,
        path=path,
        policy=policy,
        inventory=None if args.inventory is None else inventory,
        extra_vars=args.extra_vars,
        name=name,
    )


def _playbook_file(name: str, root: Path) -> Path:
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise InvalidSyscall(f"playbook_file {name!r} is outside the process's work dir")
    if not path.is_file():
        raise InvalidSyscall(f"playbook_file {name!r} is not a file in the process's work dir")
    return path


def _read_text(path: Path, limit: int) -> str:
    data = path.read_bytes()
    if len(data) > limit:
        raise InvalidSyscall(f"{path.name} is longer than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidSyscall(f"{path.name} is not UTF-8 text") from e
