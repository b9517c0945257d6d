"""How ansible reads a task: which module it runs, and that module's arguments.

A task is a mapping of keywords (`when`, `loop`, ...) and exactly one module, given by its name as a key or
through `action`; the module's arguments are a mapping or free-form `k=v` text, merged with `args`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

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
BUILTIN_PREFIXES = ("ansible.builtin.", "ansible.legacy.")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnreadableTask(Exception):
    """The guard cannot tell which module a task runs, or with which arguments; the message says why."""


@dataclass(frozen=True, kw_only=True)
class TaskModule:
    """The module one task runs."""

    name: str
    """As the task writes it (`ansible.builtin.copy`)."""
    short: str
    """Without a builtin prefix (`copy`)."""
    args: dict[str, Any]


def task_module(task: dict[Any, Any]) -> TaskModule:
    """The task's module and its arguments; UnreadableTask when they are not written out literally."""
    names = [k for k in task if k not in TASK_KEYWORDS and not str(k).startswith("with_")]
    if "action" in task:
        action = task["action"]
        if names or not isinstance(action, str | dict):
            raise UnreadableTask("`action` must be the task's only module")
        if isinstance(action, str):
            name, _, rest = action.strip().partition(" ")
            value: Any = rest
        else:
            name, value = action.get("module"), {k: v for k, v in action.items() if k != "module"}
    elif len(names) == 1:
        name, value = names[0], task[names[0]]
    else:
        detail = f"names several modules ({', '.join(map(str, names))})" if names else "names no module"
        raise UnreadableTask(f"the task {detail}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.]+", name):
        raise UnreadableTask(f"module name {name!r} must be a literal name")
    if isinstance(value, str) and re.fullmatch(r"\s*\{\{.*\}\}\s*", value, re.DOTALL):
        raise UnreadableTask(f"the arguments of {name} must be written out, not one template")
    if "args" in task and not isinstance(task["args"], dict):
        raise UnreadableTask("args must be a mapping written out, not a template")
    args = module_args(value)
    args.update(task.get("args") or {})
    return TaskModule(name=name, short=short_name(name), args=args)


def module_args(value: Any) -> dict[str, Any]:
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
        if sep and VARIABLE_NAME.fullmatch(name):
            args[name] = item
        else:
            raw.append(token)
    if raw:
        args["_raw_params"] = shlex.join(raw)
    return args


def first(mapping: dict[Any, Any], short: str) -> Any:
    """The value of keyword or module `short`, written with or without a builtin prefix; None if absent."""
    for prefix in ("", *BUILTIN_PREFIXES):
        if prefix + short in mapping:
            return mapping[prefix + short]
    return None


def short_name(name: str) -> str:
    """A plugin's name without a builtin prefix (`ansible.builtin.copy` -> `copy`)."""
    for prefix in BUILTIN_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
