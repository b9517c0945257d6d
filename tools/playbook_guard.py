"""Static checks of a playbook before ansible reads it, because `--check` is not read-only.

Ansible runs these for real even in check mode: tasks with `check_mode: false`, lookups (`lookup`,
`query`, `q`, `with_<lookup>` loops) on the controller, plugins and variables found next to a playbook
(`library/`, `*_plugins/`, `collections/`, `host_vars/`, `group_vars/`), and any program named by a
connection variable (`ansible_python_interpreter`, `ansible_ssh_common_args`, ...). The guard reads the
playbook and every file it pulls in (imported playbooks, task and vars files, template and copy sources),
which must all lie inside the scratch folder, and refuses anything that could run or change something
before a human has approved the real run. It checks files as they are when called: an agent that rewrites
its work dir while a run is in flight (a concurrent shell call) is not stopped.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, TemplateSyntaxError, nodes

from aios.kernel.errors import InvalidSyscall
from aios.tools.configs import SAFE_ENVIRONMENT

MAX_NODES = 100_000
"""YAML nodes visited per call (aliases count each time): a bound against alias bombs."""
MAX_FILES = 64
MAX_FILE_BYTES = 1024 * 1024
MAX_PROBLEMS = 10

TASK_LIST_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_KEYS = ("block", "rescue", "always")
TASK_KEYWORDS = frozenset(
    {
        "action", "any_errors_fatal", "args", "async", "become", "become_exe", "become_flags",
        "become_method", "become_user", "changed_when", "check_mode", "collections", "connection",
        "debugger", "delay", "delegate_facts", "delegate_to", "diff", "environment", "failed_when",
        "ignore_errors", "ignore_unreachable", "listen", "local_action", "loop", "loop_control",
        "module_defaults", "name", "no_log", "notify", "poll", "port", "register", "remote_user",
        "retries", "run_once", "tags", "throttle", "timeout", "until", "vars", "when",
    }
)  # fmt: skip
EXPRESSION_KEYS = frozenset({"when", "changed_when", "failed_when", "until"})
"""Keywords ansible evaluates as bare Jinja expressions (no `{{ }}` needed)."""
BECOME_KEYS = frozenset({"become", "become_user", "become_method", "become_flags", "become_exe"})
LOOKUP_NAMES = frozenset({"lookup", "query", "q"})
LOOKUP_CALL = re.compile(r"\b(?:lookup|query|q)\s*\(")
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
ADJACENT_DIRS = frozenset({"library", "module_utils", "collections", "host_vars", "group_vars"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
BUILTIN_PREFIXES = ("ansible.builtin.", "ansible.legacy.")

_JINJA = Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])


class Unsafe(str):
    """A `!unsafe` string: ansible never templates it."""


class _Loader(yaml.SafeLoader):
    """Safe YAML with ansible's `!unsafe` and `!vault` tags; duplicate keys are refused, not merged."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _tagged_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Unsafe:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, f"{node.tag} must tag a string", node.start_mark)
    return Unsafe(loader.construct_scalar(node))


_Loader.add_constructor("!unsafe", _tagged_scalar)
_Loader.add_constructor("!vault", _tagged_scalar)


def load_yaml(text: str, where: str) -> Any:
    """Parse YAML the way the guard sees it; a parse error names the file, line and column."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidSyscall(f"{where} is not valid YAML{at}: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise InvalidSyscall(f"{where} is not valid YAML: {e}") from e


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


@dataclass(frozen=True, kw_only=True)
class Inventory:
    """An INI inventory as the guard sees it."""

    hosts: frozenset[str]
    variables: tuple[tuple[str, str, str], ...]
    """(where, name, value) for every variable the inventory sets."""
    hosts_without_connection: tuple[str, ...]


def parse_inventory(text: str) -> Inventory:
    """Hosts and variables of an INI inventory (the only format the driver lets ansible read)."""
    host_vars: dict[str, dict[str, str]] = {}
    group_hosts: dict[str, set[str]] = {"all": set(), "ungrouped": set()}
    group_children: dict[str, set[str]] = {}
    group_vars: dict[str, dict[str, str]] = {}
    variables: list[tuple[str, str, str]] = []
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"inventory line {number}"
        header = re.fullmatch(r"\[([^\]:\s]+)(?::(vars|children|hosts))?\]", line)
        if header:
            group, kind = header.group(1), header.group(2) or "hosts"
            group_hosts.setdefault(group, set())
            continue
        if line.startswith("["):
            raise InvalidSyscall(f"{where}: {line!r} is not a valid section header")
        if kind == "vars":
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise InvalidSyscall(f"{where}: expected name=value in [{group}:vars], got {line!r}")
            group_vars.setdefault(group, {})[name.strip()] = value.strip()
            variables.append((f"{where} ([{group}:vars])", name.strip(), value.strip()))
            continue
        if kind == "children":
            group_children.setdefault(group, set()).add(line)
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as e:
            raise InvalidSyscall(f"{where}: {e} in {line!r}") from e
        host = tokens[0]
        if host.count(":") == 1:
            host = host.split(":")[0]
        group_hosts.setdefault(group, set()).add(host)
        for token in tokens[1:]:
            name, sep, value = token.partition("=")
            if not sep or not name:
                raise InvalidSyscall(f"{where}: expected name=value after the host, got {token!r}")
            host_vars.setdefault(host, {})[name] = value
            variables.append((f"{where} (host {host})", name, value))
    hosts = frozenset(h for members in group_hosts.values() for h in members)
    unconnected = tuple(
        sorted(
            h
            for h in hosts
            if "ansible_connection" not in host_vars.get(h, {})
            and not any(
                "ansible_connection" in group_vars.get(g, {})
                for g in _groups_of(h, group_hosts, group_children)
            )
        )
    )
    return Inventory(hosts=hosts, variables=tuple(variables), hosts_without_connection=unconnected)


def _groups_of(host: str, group_hosts: dict[str, set[str]], children: dict[str, set[str]]) -> set[str]:
    """Every group a host belongs to, directly or through `:children`, plus `all`."""
    groups = {g for g, members in group_hosts.items() if host in members} | {"all"}
    grew = True
    while grew:
        parents = {p for p, kids in children.items() if kids & groups} - groups
        groups |= parents
        grew = bool(parents)
    return groups


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
    files: dict[str, str] = field(default_factory=dict)
    visited: set[Path] = field(default_factory=set)
    nodes_left: int = MAX_NODES
    plays_without_connection: int = 0

    # ---- entry points ------------------------------------------------------------------------------

    def playbook(self, path: Path, text: str) -> None:
        """Check one playbook file (the main one or an imported one) and all it pulls in."""
        self._record(path, text)
        self._adjacent(path.parent)
        rel = self._rel(path)
        plays = load_yaml(text, rel)
        if not isinstance(plays, list) or not plays:
            self._problem(f"{rel}: a playbook must be a non-empty list of plays")
            return
        scope = _FileScope(file_dir=path.parent, playbook_dir=path.parent)
        for number, play in enumerate(plays, 1):
            self._play(play, f"{rel} play {number}", scope)

    def inventory(self, inventory: Inventory) -> None:
        for where, name, value in inventory.variables:
            self._variable_name(name, where)
            if name == "ansible_connection":
                self._connection(value, where)
            self._string(value, where)

    def extra_vars(self, extra_vars: dict[str, Any]) -> None:
        for name in extra_vars:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
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
        joined = "\n".join(f"{name} {digest}" for name, digest in sorted(self.files.items()))
        return GuardResult(files=dict(self.files), digest=hashlib.sha256(joined.encode()).hexdigest())

    # ---- structure ---------------------------------------------------------------------------------

    def _play(self, play: Any, where: str, scope: _FileScope) -> None:
        if not isinstance(play, dict):
            self._problem(f"{where}: a play must be a mapping")
            return
        target = _first(play, "import_playbook")
        if target is not None:
            self._scan(play, where)
            for path in self._resolve(target, where, bases=(scope.file_dir,), subdirs=("",)):
                if path not in self.visited:
                    self.visited.add(path)
                    text = self._read(path, where)
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
        if strategy is not None and _short(str(strategy)) not in SAFE_STRATEGIES:
            self._problem(f"{where}: strategy {strategy!r} is not allowed (use linear or free)")
        for entry in _as_list(play.get("vars_files")):
            for name in _as_list(entry):
                for path in self._resolve(name, f"{where} vars_files", bases=(scope.playbook_dir,)):
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
            self._module_rules(*found, where, scope)

    def _module(self, task: dict[Any, Any], where: str) -> tuple[str, dict[str, Any]] | None:
        """The task's module, by its short name, and its arguments (free-form text split into key=value)."""
        names = [k for k in task if k not in TASK_KEYWORDS and not str(k).startswith("with_")]
        if "action" in task:
            action = task["action"]
            if names or not isinstance(action, str | dict):
                self._problem(f"{where}: `action` must be the task's only module")
                return None
            if isinstance(action, str):
                name, _, rest = action.strip().partition(" ")
                value: Any = rest
            else:
                name, value = action.get("module"), {k: v for k, v in action.items() if k != "module"}
        elif len(names) == 1:
            name, value = names[0], task[names[0]]
        else:
            detail = f"names several modules ({', '.join(map(str, names))})" if names else "names no module"
            self._problem(f"{where}: the task {detail}")
            return None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.]+", name):
            self._problem(f"{where}: module name {name!r} must be a literal name")
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*\{\{.*\}\}\s*", value, re.DOTALL):
            self._problem(f"{where}: the arguments of {name} must be written out, not one template")
            return None
        if "args" in task and not isinstance(task["args"], dict):
            self._problem(f"{where}: args must be a mapping written out, not a template")
            return None
        args = _module_args(value)
        args.update(task.get("args") or {})
        module = _short(name)
        allowed = self.policy.allowed_modules
        if allowed and module not in allowed:
            self._problem(f"{where}: module {name} is not allowed (allowed: {', '.join(sorted(allowed))})")
            return None
        return module, args

    def _module_rules(self, module: str, args: dict[str, Any], where: str, scope: _FileScope) -> None:
        """Rules for modules that read controller files, run named programs, add hosts or wait for people."""
        for key in PROGRAM_KEYS & set(args):
            if not (key == "executable" and module in SKIPPED_IN_CHECK_MODE):
                self._problem(
                    f"{where}: {module} option {key} names a program to run, which check mode would"
                )
        if module in ("include_tasks", "import_tasks", "include"):
            target = args.get("file", args.get("_raw_params"))
            for path in self._resolve(target, where, bases=(scope.file_dir, scope.playbook_dir)):
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
            for path in self._resolve(
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
        for path in self._resolve(src, f"{where} src", bases=bases, subdirs=(subdir, "")):
            text = self._read(path, where)
            if text is not None and module == "template":
                self._string(text, f"{where} template {self._rel(path)}")

    def _task_file(self, path: Path, where: str, scope: _FileScope) -> None:
        if path in self.visited:
            return
        self.visited.add(path)
        text = self._read(path, where)
        if text is None:
            return
        rel = self._rel(path)
        tasks = load_yaml(text, rel)
        if tasks is not None and not isinstance(tasks, list):
            self._problem(f"{rel}: a task file must be a list of tasks")
            return
        self._tasks(tasks, rel, _FileScope(file_dir=path.parent, playbook_dir=scope.playbook_dir))

    def _vars_file(self, path: Path, where: str) -> None:
        text = self._read(path, where)
        if text is None:
            return
        rel = self._rel(path)
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
        if not isinstance(value, str) or _short(value) not in allowed:
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
        if LOOKUP_CALL.search(text):
            self._problem(f"{where}: {_clip(text)} calls a lookup, which runs here even in check mode")
            return
        templated = any(mark in text for mark in ("{{", "{%", "{#"))
        if not templated and not expression:
            return
        source = text if templated else "{{ (" + text + "\n) }}"
        try:
            tree = _JINJA.parse(source)
        except TemplateSyntaxError as e:
            self._problem(f"{where}: {_clip(text)} is not a template the guard can check ({e.message})")
            return
        for node in tree.find_all(nodes.Node):
            problem = _template_problem(node)
            if problem:
                self._problem(f"{where}: {_clip(text)} {problem}")
                return

    # ---- files -------------------------------------------------------------------------------------

    def _resolve(
        self, name: Any, where: str, *, bases: tuple[Path, ...], subdirs: tuple[str, ...] = ("",)
    ) -> list[Path]:
        """Files a relative path may name (ansible searches several folders); all must be in the root."""
        if not isinstance(name, str) or not name.strip() or isinstance(name, Unsafe):
            self._problem(f"{where}: expected a file name, got {name!r}")
            return []
        if any(mark in name for mark in ("{{", "{%")):
            self._problem(f"{where}: {name!r} must be a literal path (templated paths cannot be checked)")
            return []
        if Path(name).is_absolute() or name.startswith("~"):
            self._problem(f"{where}: {name!r} must be relative to the playbook's folder")
            return []
        root = self.policy.root.resolve()
        found: list[Path] = []
        for base in dict.fromkeys(bases):
            for subdir in subdirs:
                candidate = (base / subdir / name).resolve()
                if not candidate.exists():
                    continue
                if not candidate.is_relative_to(root):
                    self._problem(f"{where}: {name!r} leads outside the work dir")
                    return []
                if candidate.is_file() and candidate not in found:
                    found.append(candidate)
        if not found:
            self._problem(f"{where}: {name!r} is not a file in the work dir")
        return found

    def _read(self, path: Path, where: str) -> str | None:
        if len(self.files) >= MAX_FILES:
            raise InvalidSyscall(f"playbook refused: it reads more than {MAX_FILES} files")
        try:
            data = path.read_bytes()
        except OSError as e:
            self._problem(f"{where}: cannot read {self._rel(path)}: {e.strerror}")
            return None
        if len(data) > MAX_FILE_BYTES:
            self._problem(f"{where}: {self._rel(path)} is larger than {MAX_FILE_BYTES} bytes")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self._problem(f"{where}: {self._rel(path)} is not UTF-8 text")
            return None
        self._record(path, text)
        return text

    def _record(self, path: Path, text: str) -> None:
        self.files[self._rel(path)] = hashlib.sha256(text.encode()).hexdigest()

    def _adjacent(self, folder: Path) -> None:
        """Ansible loads plugins and variables from folders beside a playbook: refuse them."""
        try:
            names = sorted(p.name for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for name in names:
            if name in ADJACENT_DIRS or name.endswith("_plugins"):
                self._problem(
                    f"{self._rel(folder) or '.'}/{name}/ beside the playbook would be loaded by ansible "
                    "(plugins or variables that run unchecked); remove it or move the playbook"
                )

    def _rel(self, path: Path) -> str:
        root = self.policy.root.resolve()
        resolved = path.resolve()
        if resolved == self.main:
            return self.main_name
        return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)

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


def _template_problem(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name) and node.name in LOOKUP_NAMES:
        return f"uses {node.name}, which runs on this machine even in check mode"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"reads the private attribute {node.attr}"
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and str(node.arg.value).startswith("_")
    ):
        return f"reads the private attribute {node.arg.value}"
    if isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
        return "includes another template, which reads files on this machine"
    return None


def _module_args(value: Any) -> dict[str, Any]:
    """A module's arguments: a mapping as is; free-form `k=v` text split, the rest kept as `_raw_params`."""
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, str):
        return {}
    try:
        tokens = shlex.split(value)
    except ValueError:
        return {"_raw_params": value}
    args: dict[str, Any] = {}
    raw: list[str] = []
    for token in tokens:
        name, sep, item = token.partition("=")
        if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            args[name] = item
        else:
            raw.append(token)
    if raw:
        args["_raw_params"] = shlex.join(raw)
    return args


def _first(mapping: dict[Any, Any], short: str) -> Any:
    for prefix in ("", *BUILTIN_PREFIXES):
        if prefix + short in mapping:
            return mapping[prefix + short]
    return None


def _short(name: str) -> str:
    for prefix in BUILTIN_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("yes", "true", "1", "on"))


def _clip(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
