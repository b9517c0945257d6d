"""Results in OSWorld's layout, and a summary that tells a real 0 from a task that never got a fair run."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SUMMARY = "summary.json"
OUTCOME = "outcome.json"


class Status(StrEnum):
    SCORED = "scored"
    """Ran and was evaluated: its score counts."""
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    """The agent raised, or gave an action that could not be run."""
    SETUP_ERROR = "setup_error"
    UNSUPPORTED = "unsupported"
    NEEDS_NETWORK = "needs_network"
    EVAL_ERROR = "eval_error"
    ERROR = "error"
    """The runner or the machine failed unexpectedly (a bug to report, not the agent's doing)."""


class TaskOutcome(BaseModel):
    """One task's end, written beside its trajectory."""

    domain: str
    id: str
    status: Status
    score: float = 0.0
    steps: int = 0
    started_at: float = 0.0
    """When the task began (seconds since the epoch)."""
    seconds: float = 0.0
    env_setup_s: float | None = None
    tokens: int = 0
    detail: str = ""
    """Why it was not scored (the failing step, the missing getter), or the agent's error."""
    last_action: str | None = None


class DomainSummary(BaseModel):
    tasks: int
    scored: int
    success_rate: float | None
    """Mean score over the scored tasks (OSWorld's per-domain figure); None when none was scored."""
    by_status: dict[str, int]


class Summary(BaseModel):
    agent: str
    model: str
    action_space: str
    observation_type: str
    tasks: int
    scored: int
    success_rate: float | None
    success_over_all: float
    """Mean score counting every task that was not scored as 0 (the stricter figure)."""
    by_status: dict[str, int]
    unsupported: dict[str, int] = Field(default_factory=dict)
    """What the unsupported tasks asked for, by name."""
    domains: dict[str, DomainSummary]
    steps_median: float | None
    seconds_total: float
    wall_seconds: float
    env_setup_p50_s: float | None
    tokens: int


def task_dir(
    root: Path, action_space: str, observation_type: str, model: str, domain: str, task_id: str
) -> Path:
    return root / action_space / observation_type / model.replace("/", "_") / domain / task_id


def summarize(
    outcomes: list[TaskOutcome],
    *,
    agent: str,
    model: str,
    action_space: str,
    observation_type: str,
    wall_s: float,
) -> Summary:
    def status_counts(items: list[TaskOutcome]) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for o in items:
            counts[o.status.value] += 1
        return dict(sorted(counts.items()))

    def rate(items: list[TaskOutcome]) -> float | None:
        scored = [o.score for o in items if o.status == Status.SCORED]
        return round(sum(scored) / len(scored), 4) if scored else None

    by_domain: dict[str, list[TaskOutcome]] = defaultdict(list)
    for o in outcomes:
        by_domain[o.domain].append(o)
    unsupported: dict[str, int] = defaultdict(int)
    for o in outcomes:
        if o.status == Status.UNSUPPORTED:
            unsupported[o.detail.split(": ")[0]] += 1
    setups = [o.env_setup_s for o in outcomes if o.env_setup_s is not None]
    steps = [o.steps for o in outcomes if o.status == Status.SCORED]
    return Summary(
        agent=agent,
        model=model,
        action_space=action_space,
        observation_type=observation_type,
        tasks=len(outcomes),
        scored=sum(o.status == Status.SCORED for o in outcomes),
        success_rate=rate(outcomes),
        success_over_all=round(sum(o.score for o in outcomes) / len(outcomes), 4) if outcomes else 0.0,
        by_status=status_counts(outcomes),
        unsupported=dict(sorted(unsupported.items())),
        domains={
            d: DomainSummary(
                tasks=len(items),
                scored=sum(o.status == Status.SCORED for o in items),
                success_rate=rate(items),
                by_status=status_counts(items),
            )
            for d, items in sorted(by_domain.items())
        },
        steps_median=statistics.median(steps) if steps else None,
        seconds_total=round(sum(o.seconds for o in outcomes), 2),
        wall_seconds=round(wall_s, 2),
        env_setup_p50_s=round(statistics.median(setups), 3) if setups else None,
        tokens=sum(o.tokens for o in outcomes),
    )


class Trajectory:
    """traj.jsonl of one task: a line per action, as OSWorld's runners write it."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "traj.jsonl"

    def add(self, **line: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(line, default=str) + "\n")
