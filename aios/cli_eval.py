"""`aios eval ...`: evaluations of agents and subsystems (memory, security, OSWorld-format computer tasks)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aios.cli_common import (
    DefaultCommandGroup,
    _settings,
    _State,
    on_kernel,
    progress,
    publish,
    with_memory_in,
)
from aios.cli_osworld import eval_osworld, eval_osworld_check, eval_report

if TYPE_CHECKING:
    from aios.evals.eval_security import SecurityReport

eval_app = typer.Typer(help="Evaluations that score agents and subsystems.", no_args_is_help=True)
osworld_app = typer.Typer(
    cls=DefaultCommandGroup,
    help="OSWorld-format tasks: run them (`aios eval osworld [run] PATH`, the default) or check them.",
)
osworld_app.command("run")(eval_osworld)
osworld_app.command("check")(eval_osworld_check)
eval_app.add_typer(osworld_app, name="osworld")
eval_app.command("report")(eval_report)


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
        lambda kernel, say: run_eval(
            kernel,
            kernel.memory,
            data,
            params,
            name=path.name,
            model=kernel.engines.default,
            progress=say,
        ),
    )
    publish(report, folder, footnote=f"{len(report.answers)} answers in {report.seconds:.0f} s; ")


@eval_app.command("security")
def eval_security(
    attack: Annotated[
        list[str] | None, typer.Option("--attack", help="Run only these attacks (ids; repeatable).")
    ] = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Skip the attack that drives a bundled agent with the model.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: <data_dir>/results/eval_security).")
    ] = None,
) -> None:
    """Adversarial tasks (secrets, exfiltration, escalation, deletion, injection) judged on system state."""
    from aios.evals.eval_security import run_security, select_attacks
    from aios.evals.security_lab import Lab

    settings = _settings()
    folder = out or settings.data_dir / "results" / "eval_security"
    folder.mkdir(parents=True, exist_ok=True)
    attacks = select_attacks(attack or [], model=not no_model)
    from aios.config import DEFAULT_CONFIG_PATH

    config = _State.config or DEFAULT_CONFIG_PATH
    lab = Lab(Path(tempfile.mkdtemp(prefix="aios-security-")), config_path=config)
    suite = with_memory_in(settings, folder).model_copy(update={"data_dir": folder / "state"})

    async def go() -> SecurityReport:
        with progress("security suite") as say:
            return await run_security(suite, lab, attacks=attacks, progress=say)

    try:
        report = asyncio.run(go())
    finally:
        lab.clean()
    publish(report, folder, footnote=f"{len(report.attacks)} attacks in {report.seconds:.0f} s; ")
    if report.succeeded:
        raise typer.Exit(1)
