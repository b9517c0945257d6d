"""OSWorld's task files as typed models: the fields the runner reads, every other key kept as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class TaskFormatError(ValueError):
    """A task or meta file that is not OSWorld's format; says which file and what is wrong."""


class Step(BaseModel):
    """One setup or post-config step: dispatched by `type`."""

    model_config = ConfigDict(extra="allow")

    type: str
    parameters: dict[str, Any] = Field(default_factory=dict)


Check = tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]
"""One metric of an evaluator: its name, the result and expected getter specs, its options."""


class Evaluator(BaseModel):
    """How a task is scored: metric names, getter specs for the result and the expected value, options."""

    model_config = ConfigDict(extra="allow")

    func: str | list[str]
    result: dict[str, Any] | list[dict[str, Any]] | None = None
    expected: dict[str, Any] | list[dict[str, Any]] | None = None
    options: dict[str, Any] | list[dict[str, Any]] | None = None
    conj: str = "and"
    postconfig: list[Step] = Field(default_factory=list)

    @field_validator("conj")
    @classmethod
    def _known_conj(cls, conj: str) -> str:
        if conj not in ("and", "or"):
            raise ValueError(f"conj must be 'and' or 'or', not {conj!r}")
        return conj

    def metrics(self) -> list[Check]:
        """(metric, result spec, expected spec, options) for each metric, lists lined up as OSWorld does."""
        funcs = [self.func] if isinstance(self.func, str) else list(self.func)

        def nth(value: dict[str, Any] | list[dict[str, Any]] | None, i: int) -> dict[str, Any] | None:
            if isinstance(value, list):
                return value[i] if i < len(value) else None
            return value

        return [
            (name, nth(self.result, i), nth(self.expected, i), nth(self.options, i) or {})
            for i, name in enumerate(funcs)
        ]

    @property
    def infeasible(self) -> bool:
        return self.func == "infeasible" or self.func == ["infeasible"]


class Task(BaseModel):
    """One task file. `domain` is where it was found (a folder of OSWorld's `examples/`)."""

    model_config = ConfigDict(extra="allow")

    id: str
    instruction: str
    snapshot: str = ""
    source: str | list[str] = ""
    config: list[Step] = Field(default_factory=list)
    trajectory: str = ""
    related_apps: list[str] = Field(default_factory=list)
    evaluator: Evaluator
    proxy: bool = False
    fixed_ip: bool = False
    possibility_of_env_change: str = ""
    domain: str = Field(default="", exclude=True)
    solution: list[Any] | None = None
    """This project's addition: the reference actions the oracle agent replays (OSWorld keeps them apart)."""


def load_task(path: Path, *, domain: str | None = None) -> Task:
    """Read one task file; `domain` defaults to the name of its folder."""
    if not path.is_file():
        raise TaskFormatError(f"task {path.parent.name}/{path.stem} is listed but {path} does not exist")
    try:
        data = json.loads(path.read_text())
        task = Task.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise TaskFormatError(f"{path}: not an OSWorld task: {problems}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise TaskFormatError(f"{path}: not an OSWorld task: {exc}") from exc
    task.domain = domain or path.parent.name
    return task


def load_tasks(
    source: Path,
    *,
    domains: list[str] | None = None,
    meta: Path | None = None,
    bad: list[TaskFormatError] | None = None,
) -> list[Task]:
    """Every task under `source`, in a stable order.

    `source` is a task file, a folder of them (searched recursively), or OSWorld's `evaluation_examples`
    folder, whose `test_all.json`-style meta file (domain -> ids) picks the tasks under `examples/`.
    `meta` names another meta file (`test_small.json`); `domains` keeps only those domains. With `bad`,
    a file that is not a task (or a listed task that is missing) is added there and skipped; without
    it, the first one raises.
    """

    def each(paths: list[tuple[Path, str | None]]) -> list[Task]:
        tasks = []
        for path, domain in paths:
            try:
                tasks.append(load_task(path, domain=domain))
            except TaskFormatError as exc:
                if bad is None:
                    raise
                bad.append(exc)
        return tasks

    if source.is_file():
        tasks = [load_task(source)]
    elif meta is not None or (source / "test_all.json").is_file():
        tasks = each(_from_meta(source, meta or source / "test_all.json"))
    elif source.is_dir():
        tasks = each([(p, None) for p in sorted(source.rglob("*.json")) if not p.name.startswith("test_")])
    else:
        raise TaskFormatError(f"{source}: no such task file or folder")
    if domains:
        tasks = [t for t in tasks if t.domain in domains]
    seen: dict[tuple[str, str], Task] = {}
    for task in tasks:
        if (task.domain, task.id) in seen:
            twice = TaskFormatError(f"task {task.domain}/{task.id} appears twice under {source}")
            if bad is None:
                raise twice
            bad.append(twice)
            continue
        seen[(task.domain, task.id)] = task
    return list(seen.values())


def _from_meta(root: Path, meta: Path) -> list[tuple[Path, str | None]]:
    try:
        index = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TaskFormatError(f"{meta}: not a meta file: {exc}") from exc
    if not isinstance(index, dict) or not all(isinstance(v, list) for v in index.values()):
        raise TaskFormatError(f"{meta}: a meta file maps each domain to a list of task ids")
    examples = root / "examples" if (root / "examples").is_dir() else root
    return [(examples / d / f"{task_id}.json", d) for d, ids in index.items() for task_id in ids]
