"""`aios eval ...`: quality evaluations (memory now; OSWorld-format tasks and security later)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from aios.boot import boot
from aios.cli_common import _settings, _spinner, console

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
    # a private store per run: the evaluation never mixes with (or reads) the user's own memory
    run_settings = settings.model_copy(
        update={
            "memory": settings.memory.model_copy(
                update={"database_url": f"sqlite:///{folder / 'memory.db'}", "chroma_path": folder / "chroma"}
            )
        }
    )
    params = EvalParams(samples=samples, questions=questions, budget_tokens=budget)

    async def go() -> Any:
        kernel = await boot(run_settings, cwd=Path.cwd())
        try:
            with _spinner() as say:
                return await run_eval(kernel, data, params, name=path.name, progress=say)
        finally:
            await kernel.shutdown()

    report = asyncio.run(go())
    table = report.markdown()
    (folder / "table.md").write_text(table + "\n" + report.last_line() + "\n")
    (folder / "report.json").write_text(report.model_dump_json(indent=1))
    console.print(table)
    console.print(f"[dim]{len(report.answers)} answers in {report.seconds:.0f} s; written to {folder}[/]")
    print(report.last_line())
