"""`aios eval osworld` and `aios eval report`: OSWorld-format tasks, each in a fresh sandboxed desktop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aios.cli_common import _settings, console, err_console

if TYPE_CHECKING:
    from collections.abc import Callable

    from aios.evals.osworld.evaluation import Evaluation
    from aios.evals.osworld.results import TaskOutcome
    from aios.evals.osworld.runner import RunConfig
    from aios.evals.osworld.task import Task
    from aios.tools.screen_images import ScreenshotConfig


def eval_osworld(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="Task file, folder, or OSWorld's evaluation_examples (default: the shipped suite)."
        ),
    ] = None,
    agent: Annotated[
        str, typer.Option(help="oracle, noop, fail, or an installed SDK agent (osworld) run by the kernel.")
    ] = "osworld",
    model: Annotated[
        str, typer.Option(help="Model the agent's LLM calls use (a configured name).")
    ] = "local",
    domain: Annotated[list[str] | None, typer.Option(help="Only these domains (repeatable).")] = None,
    meta: Annotated[
        Path | None, typer.Option(help="A meta file (domain -> ids), e.g. test_small.json.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Downloads are read from here, never fetched (default: the suite's).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=32, help="Task computers at once.")] = 1,
    max_steps: Annotated[int, typer.Option(min=1, help="Actions per task.")] = 15,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds per task.")] = 600.0,
    action_space: Annotated[str, typer.Option(help="pyautogui or computer_13.")] = "pyautogui",
    observation: Annotated[
        str,
        typer.Option(
            help="What the agent is shown each step: a11y_tree (the accessibility tree as text, any model), "
            "screenshot or screenshot_a11y_tree (the screen as an image: the model must see)."
        ),
    ] = "a11y_tree",
    screenshot_max_width: Annotated[
        int | None, typer.Option(help="Screenshots shown to the model fit this width (default 1280).")
    ] = None,
    screenshot_max_height: Annotated[
        int | None,
        typer.Option(help="Screenshots shown to the model fit this height (default 800); never scaled up."),
    ] = None,
    screenshot_format: Annotated[
        str | None, typer.Option(help="png (default, crisp text), jpeg or webp (smaller).")
    ] = None,
    results: Annotated[Path, typer.Option(help="Results folder (OSWorld's layout).")] = Path("results"),
) -> None:
    """Score an agent on OSWorld-format tasks; the oracle run also measures the parallel speed-up."""
    from aios.evals.osworld.evaluation import SHIPPED, SHIPPED_CACHE
    from aios.evals.osworld.guest import GuestError, check_machine
    from aios.evals.osworld.runner import ACTION_SPACES, OBSERVATION_TYPES, RunConfig
    from aios.evals.osworld.task import TaskFormatError, load_tasks

    screenshots = _screenshots(screenshot_max_width, screenshot_max_height, screenshot_format)
    if action_space not in ACTION_SPACES:
        raise typer.BadParameter(f"one of {', '.join(ACTION_SPACES)}", param_hint="--action-space")
    if observation not in OBSERVATION_TYPES:
        raise typer.BadParameter(f"one of {', '.join(OBSERVATION_TYPES)}", param_hint="--observation")
    source = source or SHIPPED
    bad: list[TaskFormatError] = []
    try:
        tasks = load_tasks(source, domains=domain, meta=_beside(source, meta), bad=bad)
    except TaskFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="SOURCE") from exc
    if not tasks:
        raise typer.BadParameter(f"no tasks under {source}" + (f" in {domain}" if domain else ""))
    for problem in bad:
        err_console.print(f"[yellow]skipped[/] {problem}")
    shipped = source.resolve().is_relative_to(SHIPPED.resolve())
    config = RunConfig(
        results=results,
        model=agent if agent in ("oracle", "noop", "fail") else model,
        action_space=action_space,
        observation_type=observation,
        max_steps=max_steps,
        task_timeout_s=timeout,
        parallel=parallel,
        cache_dir=cache or (SHIPPED_CACHE if shipped else None),
    )
    try:
        check_machine()
    except GuestError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    # the agent process must not read the tasks' solutions and expected files on its import path
    answers = [SHIPPED, SHIPPED_CACHE, source if source.is_dir() else source.parent]
    hidden = [p.resolve() for p in (*answers, config.cache_dir) if p is not None and p.is_dir()]
    evaluation = asyncio.run(_run(tasks, agent, config, hidden, screenshots))
    _print(evaluation)


def _screenshots(max_width: int | None, max_height: int | None, image_format: str | None) -> ScreenshotConfig:
    """The screenshot options over ScreenshotConfig's defaults."""
    from pydantic import ValidationError

    from aios.tools.screen_images import ScreenshotConfig

    given = {"max_width": max_width, "max_height": max_height, "format": image_format}
    try:
        return ScreenshotConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        option = "--screenshot-" + str(first["loc"][0]).replace("_", "-")
        raise typer.BadParameter(first["msg"], param_hint=option) from e


async def _run(
    tasks: list[Task], agent: str, config: RunConfig, hidden: list[Path], screenshots: ScreenshotConfig
) -> Evaluation:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from aios.evals.osworld.agents import BUILTIN
    from aios.evals.osworld.evaluation import agent_factory, evaluate

    compare = agent == "oracle" and config.parallel > 1
    total = len(tasks) * (2 if compare else 1)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        job = bar.add_task(f"{agent} on {len(tasks)} tasks", total=total)

        def done(outcome: TaskOutcome) -> None:
            bar.advance(job)

        if agent in BUILTIN:
            make = agent_factory(agent, config)
            return await evaluate(tasks, agent, config, make, on_done=done, compare_serial=compare)
        return await _on_kernel(tasks, agent, config, done, hidden, screenshots)


async def _on_kernel(
    tasks: list[Task],
    agent: str,
    config: RunConfig,
    done: Callable[[TaskOutcome], None],
    hidden: list[Path],
    screenshots: ScreenshotConfig,
) -> Evaluation:
    from aios.boot import boot
    from aios.evals.osworld.driver import TaskComputerDriver
    from aios.evals.osworld.evaluation import agent_factory, evaluate

    settings = _settings()
    driver = TaskComputerDriver(screenshots)
    kernel = await boot(settings, cwd=Path.cwd(), extra_drivers=[driver])
    host = None
    try:
        if settings.agents.isolation == "process":
            from aios.agent_host import start_agent_host

            host = await start_agent_host(
                kernel,
                settings.agents,
                data_dir=settings.data_dir,
                hidden=hidden,
                image_bytes=settings.images.max_call_bytes,
            )
        make = agent_factory(agent, config, kernel=kernel, driver=driver, host=host, model=config.model)
        return await evaluate(tasks, agent, config, make, on_done=done)
    finally:
        if host is not None:
            await host.close()
        await kernel.shutdown()


def _beside(source: Path, meta: Path | None) -> Path | None:
    """`--meta test_all.json` names the file beside the tasks, as OSWorld's README writes it."""
    if meta is not None and not meta.is_absolute() and not meta.exists() and (source / meta).is_file():
        return source / meta
    return meta


def eval_osworld_check(
    source: Annotated[Path, typer.Argument(help="Task file, folder, or OSWorld's evaluation_examples.")],
    meta: Annotated[
        Path | None, typer.Option(help="A meta file (domain -> ids), e.g. test_all.json.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Where downloads are read from (default: the shipped suite's).")
    ] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Only these domains (repeatable).")] = None,
    online: Annotated[
        bool, typer.Option(help="Count tasks that open live web pages as supported (a machine online).")
    ] = False,
    tasks_out: Annotated[
        Path | None, typer.Option("--json", help="Write every unsupported task and its reasons here.")
    ] = None,
) -> None:
    """Which tasks run on this machine, per domain, and why the others cannot (starts no computer)."""
    from rich.table import Table

    from aios.evals.osworld.coverage import coverage
    from aios.evals.osworld.evaluation import SHIPPED, SHIPPED_CACHE
    from aios.evals.osworld.guest import GuestConfig
    from aios.evals.osworld.task import TaskFormatError, load_tasks

    bad: list[TaskFormatError] = []
    try:
        tasks = load_tasks(source, domains=domain, meta=_beside(source, meta), bad=bad)
    except TaskFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="SOURCE") from exc
    shipped = source.resolve().is_relative_to(SHIPPED.resolve())
    cache_dir = cache or (SHIPPED_CACHE if shipped else None)  # as `aios eval osworld` reads downloads
    report = coverage(tasks, GuestConfig(), cache_dir=cache_dir, bad=bad, online=online)
    table = Table(title=f"{report.tasks} tasks under {source}")
    for column in ("domain", "tasks", "supported", "not supported (by first reason)"):
        table.add_column(column)
    for name, d in report.domains.items():
        first = ", ".join(f"{k} {v}" for k, v in d.first_reasons.most_common()) or "-"
        table.add_row(name, str(d.tasks), str(d.supported), first)
    console.print(table)
    console.print("[bold]why, in tasks[/] (a task may have several reasons):")
    for reason, count in report.reasons().most_common():
        console.print(f"  {count:4d}  {reason}", highlight=False)
    for problem in report.bad_files:
        console.print(f"[yellow]bad file, skipped:[/] {problem}")
    if tasks_out is not None:
        tasks_out.write_text(report.model_dump_json(indent=2))
    print(report.last_line())


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _print(evaluation: Evaluation) -> None:
    from collections import Counter

    from rich.markup import escape
    from rich.table import Table

    from aios.evals.osworld.results import Status

    s = evaluation.summary
    table = Table(title=f"{s.agent} ({s.model}) on {s.tasks} tasks")
    for column in ("domain", "tasks", "scored", "success", "not scored"):
        table.add_column(column)
    for name, d in s.domains.items():
        other = ", ".join(f"{k} {v}" for k, v in d.by_status.items() if k != "scored") or "-"
        table.add_row(name, str(d.tasks), str(d.scored), _rate(d.success_rate), other)
    console.print(table)
    if s.unsupported:
        console.print("unsupported: " + ", ".join(f"{k} ({v})" for k, v in s.unsupported.items()))
    crashes = Counter(o.detail for o in evaluation.outcomes if o.status == Status.CRASHED)
    for detail, count in crashes.most_common(3):  # often one cause for every task (a model that cannot see)
        console.print(f"[red]crashed[/] ({count} {'task' if count == 1 else 'tasks'}): {escape(detail)}")
    console.print(f"[dim]results in {evaluation.folder}[/]")
    print(evaluation.last_line())


def eval_report(
    results: Annotated[Path, typer.Argument(help="A results folder written by `aios eval osworld`.")] = Path(
        "results"
    ),
) -> None:
    """Per-domain success of every run under a results folder, and an HTML report with step screenshots."""
    from rich.table import Table

    from aios.evals.osworld.report import build_report

    try:
        summaries, page = build_report(results)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="RESULTS") from exc
    table = Table(title=f"runs under {results}")
    for column in ("agent", "model", "space / observation", "tasks", "scored", "success", "domains"):
        table.add_column(column)
    for s in summaries:
        domains = ", ".join(f"{d} {_rate(v.success_rate)}" for d, v in s.domains.items())
        space = f"{s.action_space} / {s.observation_type}"
        table.add_row(s.agent, s.model, space, str(s.tasks), str(s.scored), _rate(s.success_rate), domains)
    console.print(table)
    print(page.resolve())
