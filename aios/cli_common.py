"""What every `aios` subcommand shares: the global options, the consoles, the spinner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from aios.config import Settings, load_settings

if TYPE_CHECKING:
    from aios.kernel.kernel import Kernel

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


class _State:
    config: Path | None = None
    verbose: bool = False


def _settings(**overrides: Any) -> Settings:
    return load_settings(_State.config, **overrides)


@contextlib.contextmanager
def _spinner() -> Iterator[Callable[[str], None]]:
    """A transient spinner on stderr; yields a function that sets its text."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task_id = progress.add_task("starting", total=None)
        yield lambda message: progress.update(task_id, description=message)


def on_kernel(settings: Settings, work: Callable[[Kernel, Callable[[str], None]], Awaitable[T]]) -> T:
    """Boot a kernel, run `work` under a spinner it can update, and shut the kernel down."""
    from aios.boot import boot

    async def go() -> T:
        kernel = await boot(settings, cwd=Path.cwd())
        try:
            with _spinner() as say:
                return await work(kernel, say)
        finally:
            await kernel.shutdown()

    return asyncio.run(go())


def with_memory_in(settings: Settings, folder: Path) -> Settings:
    """Settings whose memory lives in `folder`: benchmarks and evaluations never touch the user's own."""
    memory = settings.memory.model_copy(
        update={"database_url": f"sqlite:///{folder / 'memory.db'}", "chroma_path": folder / "chroma"}
    )
    return settings.model_copy(update={"memory": memory})


class Report(Protocol):
    def markdown(self) -> str: ...
    def last_line(self) -> str: ...
    def model_dump_json(self, *, indent: int | None = None) -> str: ...


def publish(report: Report, folder: Path, *, footnote: str = "") -> None:
    """Write `table.md` and `report.json`, print the table, and end stdout with the summary line."""
    table = report.markdown()
    (folder / "table.md").write_text(table + "\n" + report.last_line() + "\n")
    (folder / "report.json").write_text(report.model_dump_json(indent=1))
    console.print(table)
    console.print(f"[dim]{footnote}written to {folder}[/]")
    print(report.last_line())
