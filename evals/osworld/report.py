"""`aios eval report`: every run under a results folder as a per-domain table and an HTML page with the
screenshot of every step."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from jinja2 import Environment, select_autoescape

from aios.evals.osworld.results import OUTCOME, Summary, TaskOutcome, summarize

REPORT = "report.html"

TEMPLATE = Path(__file__).with_name("report.html.j2")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _runs(root: Path) -> dict[Path, list[tuple[TaskOutcome, Path]]]:
    """Outcomes grouped by run folder ({action_space}/{observation_type}/{model})."""
    runs: dict[Path, list[tuple[TaskOutcome, Path]]] = defaultdict(list)
    for path in sorted(root.rglob(OUTCOME)):
        task_folder = path.parent
        runs[task_folder.parent.parent].append(
            (TaskOutcome.model_validate_json(path.read_text()), task_folder)
        )
    return runs


def build_report(root: Path) -> tuple[list[Summary], Path]:
    """Summaries of every run under `root` and the HTML page written there."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a results folder")
    runs = []
    summaries = []
    for run_folder, items in _runs(root).items():
        saved = run_folder / "summary.json"
        if saved.is_file():
            summary = Summary.model_validate_json(saved.read_text())
        else:
            space, observation, model = run_folder.relative_to(root).parts[-3:]
            summary = summarize(
                [o for o, _ in items],
                agent="?",
                model=model,
                action_space=space,
                observation_type=observation,
                wall_s=0.0,
            )
        summaries.append(summary)
        tasks = []
        for outcome, folder in items:
            traj = folder / "traj.jsonl"
            steps = [json.loads(line) for line in traj.read_text().splitlines()] if traj.is_file() else []
            css = (
                "other"
                if outcome.status.value != "scored"
                else ("scored1" if outcome.score >= 1 else "scored0")
            )
            tasks.append(
                {"outcome": outcome, "steps": steps, "href": folder.relative_to(root).as_posix(), "css": css}
            )
        runs.append({"summary": summary, "tasks": tasks})
    if not runs:
        raise FileNotFoundError(f"no task results under {root}")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    page = env.from_string(TEMPLATE.read_text()).render(runs=runs, fmt=_fmt)
    out = root / REPORT
    out.write_text(page)
    return summaries, out
