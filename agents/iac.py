"""`iac`: infrastructure as code. Describe what you want; a playbook is written, checked, and applied once a
human approves it."""

from __future__ import annotations

import json
from typing import Any

import yaml

from aios.sdk import Agent, AiosError, Context, Manifest, Message, PermissionDenied

MODULES = (
    "file", "copy", "lineinfile", "blockinfile", "replace", "package", "apt", "pip", "service", "user",
    "group", "cron", "git", "get_url", "command", "shell", "debug",
)  # fmt: skip
"""Modules the model may pick (ansible.builtin); a closed list keeps a small model's playbooks loadable."""

TASKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tasks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 60},
                    "module": {"enum": list(MODULES)},
                    "args": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 200}},
                },
                "required": ["name", "module", "args"],
            },
        }
    },
    "required": ["tasks"],
}
"""What the model writes: tasks as data, turned into the playbook's YAML by the agent, so it always parses."""


class IacAgent(Agent):
    """Writes a playbook for a description, checks it (once more after a failure), then applies it."""

    manifest = Manifest(
        name="iac",
        version="0.1.0",
        description=(
            "Infrastructure as code: turns a description into an ansible playbook, dry-runs it, and applies "
            "it after a human approves what would change."
        ),
        capabilities=("llm", "ansible.*"),
    )

    system_prompt = (
        "You write Ansible tasks for the user's request. Reply with JSON only, for example: "
        '{"tasks": [{"name": "make the data folder", "module": "file", '
        '"args": {"path": "data", "state": "directory"}}]}. '
        "Use the modules file, copy, lineinfile and the like rather than command or shell, so that running "
        "the tasks twice changes nothing the second time. Relative paths are in the work folder."
    )
    max_tokens = 512

    async def run(self, task: str, ctx: Context) -> str:
        messages = [Message(role="system", content=self.system_prompt), Message(role="user", content=task)]
        playbook, problem = "", ""
        report: dict[str, Any] | None = None
        for attempt in (1, 2):
            reply = await ctx.llm(messages, response_schema=TASKS_SCHEMA, max_tokens=self.max_tokens)
            report = None
            try:
                playbook = render_playbook(reply.content)
                report = await ctx.tool("ansible.check", playbook=playbook)
                problem = check_problems(report)
            except (ValueError, AiosError) as e:
                problem = e.message if isinstance(e, AiosError) else str(e)
            if not problem or attempt == 2:
                break
            ctx.log.info("the check failed, asking once more: %s", problem)
            messages += [
                Message(role="assistant", content=reply.content),
                Message(
                    role="user",
                    content=f"The dry run failed: {problem[:800]}\nFix the tasks and reply with all of them.",
                ),
            ]
        if report is None:
            return f"Nothing applied: no playbook passed the check ({problem[:300]})."
        try:
            applied = await ctx.tool("ansible.apply", playbook=playbook)
        except PermissionDenied as e:
            found = totals(report)
            return f"Nothing applied: the apply was not approved ({e.message}). The check found: {found}."
        except AiosError as e:
            return f"The apply failed: {e.message}"
        return applied_summary(applied)


def render_playbook(content: str) -> str:
    """The model's tasks as a one-play playbook on the inventory's hosts."""
    try:
        data = json.loads(content, strict=False)
        tasks = [{"name": t["name"], f"ansible.builtin.{t['module']}": t["args"]} for t in data["tasks"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"the reply is not the JSON asked for ({e})") from e
    play = {"name": "iac", "hosts": "all", "gather_facts": False, "tasks": tasks}
    return yaml.safe_dump([play], sort_keys=False, allow_unicode=True)


def check_problems(report: dict[str, Any]) -> str:
    """Failed tasks of a check, with their messages; empty when the check went through."""
    failed = [t for t in report.get("tasks", []) if t.get("status") in ("failed", "unreachable")]
    parts = [f"task {t['task']!r} {t['status']}: {t.get('msg', '')}" for t in failed[:3]]
    parts += report.get("errors", [])[:2]
    return "; ".join(parts) if parts or report.get("ok", False) else "the check did not succeed"


def totals(report: dict[str, Any]) -> str:
    counts = report.get("totals", {})
    shown = [
        f"{counts[k]} {k}" for k in ("changed", "ok", "failed", "skipped", "unreachable") if counts.get(k)
    ]
    return ", ".join(shown) or "no tasks"


def applied_summary(report: dict[str, Any]) -> str:
    verdict = "Applied" if report.get("ok") else "Applied with failures"
    text = f"{verdict}: {totals(report)}."
    failed = [
        f"{t['task']} ({t.get('msg', '')[:120]})" for t in report.get("tasks", []) if t["status"] == "failed"
    ]
    if failed:
        text += " Failed: " + "; ".join(failed[:3]) + "."
    if report.get("idempotent") is True:
        text += " A second check changes nothing."
    elif report.get("idempotent") is False:
        text += (
            " Not idempotent, would change again: " + ", ".join(report.get("still_changing", [])[:5]) + "."
        )
    return text
