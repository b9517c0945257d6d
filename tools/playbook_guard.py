"""Static checks of a playbook before ansible reads it, because `--check` is not read-only.

Ansible runs these for real even in check mode: tasks with `check_mode: false`, lookups (`lookup`,
`query`, `q`, `with_<lookup>` loops) on the controller, plugins and variables found next to a playbook
(`library/`, `*_plugins/`, `collections/`, `host_vars/`, `group_vars/`), and any program named by a
connection variable (`ansible_python_interpreter`, `ansible_ssh_common_args`, ...). The guard reads the
playbook and every file it pulls in (imported playbooks, task and vars files, template and copy sources),
which must all lie inside the scratch folder, and refuses anything that could run or change something
before a human has approved the real run. It checks files as they are when called: an agent that rewrites
its work dir while a run is in flight (a concurrent shell call) is not stopped.

Its parts: `playbook_yaml` parses, `playbook_files` finds and reads the files pulled in, `playbook_tasks`
tells which module a task runs, `playbook_templates` judges templates; inventories are read by ansible's
own plugins (`ansible_inventory`).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios.kernel.errors import InvalidSyscall
from aios.tools.configs import SAFE_ENVIRONMENT
from aios.tools.playbook_files import PlaybookFiles
from aios.tools.playbook_tasks import (
    VARIABLE_NAME,
    TaskModule,
    UnreadableTask,
    first,
    short_name,
    task_module,
)
from aios.tools.playbook_templates import template_problem
from aios.tools.playbook_yaml import Unsafe, load_yaml

if TYPE_CHECKING:
    from aios.tools.ansible_inventory import Inventory

MAX_NODES = 100_000
"""YAML nodes visited per call (aliases count each time): a bound against alias bombs."""
MAX_PROBLEMS = 10

TASK_LIST_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_KEYS = ("block", "rescue", "always")
EXPRESSION_KEYS = frozenset({"when", "changed_when", "failed_when", "until"})
"""Keywords ansible evaluates as bare Jinja expressions (no `{{ }}` needed)."""
BECOME_KEYS = frozenset({"become", "become_user", "become_method", "become_flags", "become_exe"})
PURE_LOOPS = frozenset(
    {"items", "list", "dict", "indexed_items", "together", "nested", "cartesian", "sequence",
     "subelements", "random_choice", "flattened"}
)  # fmt: skip
"""`with_<lookup>` loops that only reshape their argument; every other lookup may read or run things."""
SAFE_STRATEGIES = frozenset({"linear", "free", "host_pinned"})
ALLOWED_ANSIBLE_VARS = frozenset({"ansible_connection", "ansible_host", "ansible_port", "ansible_user"})
PROGRAM_KEYS = frozenset(
    {"executable", "virtualenv_command", "ssh_opts", "extra_opts", "fact_path", "ssh_common_args",
     "ssh_extra_args", "scp_extra_args", "sftp_extra_args"}
)  # fmt: skip
"""Module options that name a program or its options; modules that support check mode run them (pip list,
git ls-remote over ssh, tar listing an archive, setup running fact scripts)."""
SKIPPED_IN_CHECK_MODE = frozenset({"command", "shell", "raw", "script"})
"""Modules ansible does not run in check mode, so their `executable` cannot run then."""
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, kw_only=True)
class GuardPolicy:
    """What the guard lets through; built by the driver from its config and the inventory in use."""

    root: Path
    """The scratch folder: every file the playbook reads must be inside."""
    allowed_connections: frozenset[str]
    allow_become: bool = False
    allowed_environment: tuple[str, ...] = SAFE_ENVIRONMENT
    """Glob patterns of the names `environment:` may set."""
    allowed_modules: frozenset[str] = frozenset()
    """Short module names tasks may use (`copy`, `community.general.ini_file`); empty: any."""
    inventory_hosts: frozenset[str] = frozenset()
    """Hosts `delegate_to` may name besides this machine."""
    hosts_without_connection: tuple[str, ...] = ()
    """Inventory hosts with no `ansible_connection`: ansible would use ssh for them."""


@dataclass(frozen=True, kw_only=True)
class GuardResult:
    """What was checked: file (relative to the root) -> sha256, so a later run can tell if anything moved."""

    files: dict[str, str]
    digest: str


@dataclass
class _FileScope:
    """Where relative paths of the file being walked resolve: its own folder, then the playbook's."""

    file_dir: Path
    playbook_dir: Path


@dataclass
class _Guard:
    policy: GuardPolicy
    main: Path
    """The playbook the call names; shown as `main_name` (YAML text has no file name of its own)."""
    main_name: str
    problems: list[str] = field(default_factory=list)
    visited: set[Path] = field(default_factory=set)
    nodes_left: int = MAX_NODES
    plays_without_connection: int = 0
    files: PlaybookFiles = field(init=False)

    def __post_init__(self) -> None:
        root = self.policy.root.resolve()
        self.files = PlaybookFiles(root=root, main=self.main, main_name=self.main_name, report=self._problem)

    # ---- entry points ------------------------------------------------------------------------------

    def playbook(self, path: Path, text: str) -> None:
        """Check one playbook file (the main one or an imported one) and all it pulls in."""
        self.files.record(path, text)
        self.files.refuse_adjacent(path.parent)
        rel = self.files.rel(path)
        plays = load_yaml(text, rel)
        if not isinstance(plays, list) or not plays:
            self._problem(f"{rel}: a playbook must be a non-empty list of plays")
            return
        scope = _FileScope(file_dir=path.parent, playbook_dir=path.parent)
        for number, play in enumerate(plays, 1):
            self._play(play, f"{rel} play {number}", scope)

    def inventory(self, inventory: Inventory) -> None:
        """Every variable an agent-given inventory sets, on any group or host, checked like a play's."""
        for where, name, value in inventory.variables:
            self._variable_name(name, where)
            if name == "ansible_connection":
                self._connection(value, where)
            self._scan(value, where)

    def extra_vars(self, extra_vars: dict[str, Any]) -> None:
        for name in extra_vars:
            if not VARIABLE_NAME.fullmatch(name):
                self._problem(f"extra_vars: {name!r} is not a valid variable name")
        self._scan(extra_vars, "extra_vars")

    def finish(self) -> GuardResult:
        unconnected = self.policy.hosts_without_connection
        if unconnected and self.plays_without_connection and "ssh" not in self.policy.allowed_connections:
            allowed = ", ".join(sorted(self.policy.allowed_connections))
            self._problem(
                f"inventory hosts {', '.join(unconnected[:5])} set no ansible_connection, so ansible would "
                f"use ssh, which is not allowed (allowed: {allowed})"
            )
        if self.problems:
            shown = self.problems[:MAX_PROBLEMS]
            more = len(self.problems) - len(shown)
            tail = f"; and {more} more" if more else ""
            raise InvalidSyscall("playbook refused: " + "; ".join(shown) + tail)
        hashes = self.files.hashes
        joined = "\n".join(f"{name} {digest}" for name, digest in sorted(hashes.items()))
        return GuardResult(files=dict(hashes), digest=hashlib.sha256(joined.encode()).hexdigest())

    # ---- structure ---------------------------------------------------------------------------------

    def _play(self, play: Any, where: str, scope: _FileScope) -> None:
        if not isinstance(play, dict):
            self._problem(f"{where}: a play must be a mapping")
            return
        target = first(play, "import_playbook")
        if target is not None:
            self._scan(play, where)
            for path in self.files.resolve(target, where, bases=(scope.file_dir,), subdirs=("",)):
                if path not in self.visited:
                    self.visited.add(path)
                    text = self.files.read(path, where)
                    if text is not None:
                        self.playbook(path, text)
            return
        self._scan({k: v for k, v in play.items() if k not in TASK_LIST_KEYS}, where)
        self._keywords(play, where)
        if "connection" not in play:
            self.plays_without_connection += 1
        if "roles" in play:
            self._problem(
                f"{where}: roles are not supported (their files cannot be checked); inline the tasks"
            )
        strategy = play.get("strategy")
        if strategy is not None and short_name(str(strategy)) not in SAFE_STRATEGIES:
            self._problem(f"{where}: strategy {strategy!r} is not allowed (use linear or free)")
        for entry in _as_list(play.get("vars_files")):
            for name in _as_list(entry):
                for path in self.files.resolve(name, f"{where} vars_files", bases=(scope.playbook_dir,)):
                    self._vars_file(path, where)
        for key in TASK_LIST_KEYS:
            self._tasks(play.get(key), f"{where} {key}", scope)

    def _tasks(self, tasks: Any, where: str, scope: _FileScope) -> None:
        if tasks is None:
            return
        if not isinstance(tasks, list):
            self._problem(f"{where}: expected a list of tasks")
            return
        for number, task in enumerate(tasks, 1):
            self._task(task, f"{where} #{number}", scope)

    def _task(self, task: Any, where: str, scope: _FileScope) -> None:
        if not isinstance(task, dict):
            self._problem(f"{where}: a task must be a mapping")
            return
        if isinstance(task.get("name"), str):
            where = f"{where} ({task['name'][:60]!r})"
        if any(k in task for k in BLOCK_KEYS):
            self._scan({k: v for k, v in task.items() if k not in BLOCK_KEYS}, where)
            self._keywords(task, where)
            for key in BLOCK_KEYS:
                self._tasks(task.get(key), f"{where} {key}", scope)
            return
        self._scan(task, where)
        self._keywords(task, where)
        found = self._module(task, where)
        if found is not None:
            self._module_rules(found.short, found.args, where, scope)

    def _module(self, task: dict[Any, Any], where: str) -> TaskModule | None:
        try:
            found = task_module(task)
        except UnreadableTask as e:
            self._problem(f"{where}: {e}")
            return None
        allowed = self.policy.allowed_modules
        if allowed and found.short not in allowed:
            self._problem(
                f"{where}: module {found.name} is not allowed (allowed: {', '.join(sorted(allowed))})"
            )
            return None
        return found

    def _module_rules(self, module: str, args: dict[str, Any], where: str, scope: _FileScope) -> None:
        """Rules for modules that read controller files, run named programs, add hosts or wait for people."""
        for key in PROGRAM_KEYS & set(args):
            if not (key == "executable" and module in SKIPPED_IN_CHECK_MODE):
                self._problem(
                    f"{where}: {module} option {key} names a program to run, which check mode would"
                )
        if module in ("include_tasks", "import_tasks", "include"):
            target = args.get("file", args.get("_raw_params"))
            for path in self.files.resolve(target, where, bases=(scope.file_dir, scope.playbook_dir)):
                self._task_file(path, where, scope)
            if isinstance(args.get("apply"), dict):
                self._keywords(args["apply"], f"{where} apply")
        elif module in ("include_role", "import_role"):
            self._problem(
                f"{where}: roles are not supported (their files cannot be checked); inline the tasks"
            )
        elif module == "import_playbook":
            self._problem(f"{where}: import_playbook belongs at the top level of a playbook")
        elif module == "include_vars":
            if "dir" in args:
                self._problem(f"{where}: include_vars with dir is not supported; name the file")
            target = args.get("file", args.get("_raw_params"))
            for path in self.files.resolve(
                target, where, bases=(scope.file_dir, scope.playbook_dir), subdirs=("vars", "")
            ):
                self._vars_file(path, where)
        elif module == "add_host":
            self._problem(f"{where}: add_host is not allowed (it can give a host any connection settings)")
        elif module == "pause" and ("prompt" in args or not {"seconds", "minutes"} & set(args)):
            self._problem(f"{where}: pause without seconds or minutes waits for a person; give seconds")
        elif module in ("copy", "template", "script", "unarchive", "patch"):
            self._source(module, args, where, scope)
        elif module == "assert":
            for condition in _as_list(args.get("that")):
                self._string(condition, f"{where} that", expression=True)
        elif module == "debug" and isinstance(args.get("var"), str):
            self._string(args["var"], f"{where} var", expression=True)

    def _source(self, module: str, args: dict[str, Any], where: str, scope: _FileScope) -> None:
        """A file ansible reads on this machine and sends to the target: it must come from the work dir."""
        if _truthy(args.get("remote_src")):
            return
        src = args.get("src")
        if module == "script":
            command = args.get("cmd", args.get("_raw_params"))
            src = shlex.split(command)[0] if isinstance(command, str) and command.strip() else None
        if src is None:
            return
        subdir = "templates" if module == "template" else "files"
        bases = (scope.file_dir, scope.file_dir.parent, scope.playbook_dir)
        for path in self.files.resolve(src, f"{where} src", bases=bases, subdirs=(subdir, "")):
            text = self.files.read(path, where)
            if text is not None and module == "template":
                self._string(text, f"{where} template {self.files.rel(path)}")

    def _task_file(self, path: Path, where: str, scope: _FileScope) -> None:
        if path in self.visited:
            return
        self.visited.add(path)
        text = self.files.read(path, where)
        if text is None:
            return
        rel = self.files.rel(path)
        tasks = load_yaml(text, rel)
        if tasks is not None and not isinstance(tasks, list):
            self._problem(f"{rel}: a task file must be a list of tasks")
            return
        self._tasks(tasks, rel, _FileScope(file_dir=path.parent, playbook_dir=scope.playbook_dir))

    def _vars_file(self, path: Path, where: str) -> None:
        text = self.files.read(path, where)
        if text is None:
            return
        rel = self.files.rel(path)
        data = load_yaml(text, rel)
        if data is not None and not isinstance(data, dict):
            self._problem(f"{rel}: a vars file must be a mapping")
            return
        self._scan(data, rel)

    # ---- keywords and values -----------------------------------------------------------------------

    def _keywords(self, mapping: dict[Any, Any], where: str) -> None:
        """Play, block and task keywords that decide where and how things run."""
        for host in _as_list(mapping.get("delegate_to")):
            if not isinstance(host, str) or host not in LOCAL_HOSTS | self.policy.inventory_hosts:
                self._problem(
                    f"{where}: delegate_to {host!r} is not this machine or an inventory host "
                    "(name one literally)"
                )
        if "connection" in mapping:
            self._connection(mapping["connection"], where)
        if "environment" in mapping:
            self._environment(mapping["environment"], where)
        defaults = mapping.get("module_defaults")
        for options in defaults.values() if isinstance(defaults, dict) else []:
            for key in PROGRAM_KEYS & set(options if isinstance(options, dict) else ()):
                self._problem(f"{where}: module_defaults option {key} names a program to run")
        if isinstance(mapping.get("register"), str):
            self._variable_name(mapping["register"], f"{where} register")
        loop_control = mapping.get("loop_control")
        if isinstance(loop_control, dict):
            for key in ("loop_var", "index_var"):
                if isinstance(loop_control.get(key), str):
                    self._variable_name(loop_control[key], f"{where} loop_control.{key}")

    def _connection(self, value: Any, where: str) -> None:
        allowed = self.policy.allowed_connections
        if not isinstance(value, str) or short_name(value) not in allowed:
            self._problem(
                f"{where}: connection {value!r} is not allowed (allowed: {', '.join(sorted(allowed))})"
            )

    def _environment(self, value: Any, where: str) -> None:
        for entry in value if isinstance(value, list) else [value]:
            if not isinstance(entry, dict):
                self._problem(f"{where}: environment must be a mapping of literal names")
                continue
            for name in entry:
                if not isinstance(name, str) or not any(
                    fnmatchcase(name, pattern) for pattern in self.policy.allowed_environment
                ):
                    self._problem(
                        f"{where}: environment variable {name!r} is not allowed (many make programs run "
                        "other code); allowed: " + ", ".join(self.policy.allowed_environment)
                    )

    def _variable_name(self, name: Any, where: str) -> None:
        if isinstance(name, str) and name.startswith("ansible_") and name not in ALLOWED_ANSIBLE_VARS:
            self._problem(
                f"{where}: sets {name}; of the ansible_* variables only "
                f"{', '.join(sorted(ALLOWED_ANSIBLE_VARS))} may be set (others can name programs to run)"
            )

    def _scan(self, value: Any, where: str, *, expression: bool = False) -> None:
        """Every key and string under `value`: rules that hold at any depth, and every template in it."""
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise InvalidSyscall(f"playbook refused: more than {MAX_NODES} YAML nodes (near {where})")
        if isinstance(value, str):
            self._string(value, where, expression=expression)
        elif isinstance(value, list):
            for item in value:
                self._scan(item, where, expression=expression)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._key(key, item, where)
                self._scan(item, where, expression=key in EXPRESSION_KEYS)

    def _key(self, key: Any, value: Any, where: str) -> None:
        if not isinstance(key, str):
            return
        self._string(key, where)
        if key == "check_mode" and value is not True:
            self._problem(f"{where}: check_mode: {value!r} makes the task run for real during --check")
        elif key in BECOME_KEYS and value is not False and not self.policy.allow_become:
            self._problem(
                f"{where}: {key} is not allowed (privilege escalation is off in the ansible config)"
            )
        elif key == "local_action":
            self._problem(f"{where}: local_action runs on this machine outside the play's hosts; use a play")
        elif key in ("vars_prompt", "debugger") and not (key == "debugger" and value == "never"):
            self._problem(f"{where}: {key} waits for a person at the terminal")
        elif key.startswith("with_") and key[5:] not in PURE_LOOPS:
            self._problem(f"{where}: {key} runs the {key[5:]} lookup on this machine even in check mode")
        elif key.startswith("ansible_"):
            self._variable_name(key, where)
            if key == "ansible_connection":
                self._connection(value, where)

    def _string(self, text: Any, where: str, *, expression: bool = False) -> None:
        """Refuse lookups, private attributes and template includes in anything ansible would template."""
        if not isinstance(text, str) or isinstance(text, Unsafe):
            return
        problem = template_problem(text, expression=expression)
        if problem:
            self._problem(f"{where}: {problem}")

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def guard_playbook(
    text: str,
    *,
    path: Path,
    policy: GuardPolicy,
    inventory: Inventory | None = None,
    extra_vars: dict[str, Any] | None = None,
    name: str | None = None,
) -> GuardResult:
    """Check a playbook (its text, as if stored at `path`), an agent-given inventory and extra vars.

    `name` is how messages call the playbook (default: its path in the root). Raises InvalidSyscall
    naming the problems found (the first few); returns the files it read.
    """
    main = path.resolve()
    root = policy.root.resolve()
    shown = name or (main.relative_to(root).as_posix() if main.is_relative_to(root) else str(path))
    guard = _Guard(policy=policy, main=main, main_name=shown)
    try:
        if inventory is not None:
            guard.inventory(inventory)
        guard.extra_vars(extra_vars or {})
        guard.visited.add(main)
        guard.playbook(path, text)
    except RecursionError as e:
        raise InvalidSyscall("playbook refused: it is nested too deeply to check") from e
    return guard.finish()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("yes", "true", "1", "on"))
