"""`aios eval ...`: quality evaluations (memory now; OSWorld-format tasks and security later)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aios.cli_common import _settings, on_kernel, publish, with_memory_in

eval_app = typer.Typer(help="Evaluations that score agents and subsystems.", no_args_is_help=True)


@eval_app.command("memory")
def eval_memory(
    dataset: Annotated[
        Path | None, typer.Option(help="LoCoMo-format JSON (default: the small dataset shipped with aios).")
    ] = None,
    samples: Annotated[int | None, typer.Option(help="Conversations to run (default: all).")] = None,
    questions: Annotated[int | None, typer.Option(help="Questions per conversation (default: all).")] = None,
    budget: Annotated[
        int | None,
        typer.Option(help="Transcript tokens the memory-off baseline sees (default: memory_tokens)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: <data_dir>/results/eval_memory).")
    ] = None,
) -> None:
    """Long-conversation QA with memory on vs a truncated context: token F1 per category, BLEU-1, cost."""
    from aios.evals.eval_memory import EvalParams, default_dataset, run_eval
    from aios.evals.locomo import load_dataset

    path = dataset or default_dataset()
    data = load_dataset(path)
    settings = _settings()
    folder = out or settings.data_dir / "results" / "eval_memory"
    folder.mkdir(parents=True, exist_ok=True)
    params = EvalParams(samples=samples, questions=questions, budget_tokens=budget)
    # each run writes under its own user in the evaluation's store, never in the user's memory
    report = on_kernel(
        with_memory_in(settings, folder),
        lambda kernel, say: run_eval(kernel, data, params, name=path.name, progress=say),
    )
    publish(report, folder, footnote=f"{len(report.answers)} answers in {report.seconds:.0f} s; ")
