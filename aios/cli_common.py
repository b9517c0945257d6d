"""What every `aios` subcommand shares: the global options, the consoles, progress, booting a kernel.

Commands import what they need when they run: `aios --help`, `aios version` and `aios ps` load no engine,
torch, Playwright or X library.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click
from rich.console import Console
from typer.core import TyperGroup

if TYPE_CHECKING:
    from aios.config import Settings
    from aios.kernel.kernel import Kernel

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

HEARTBEAT_S = 30.0
"""Off a terminal, a long job still prints a line this often, so a log shows it is alive."""


class _State:
    config: Path | None = None
    verbose: bool = False


def fmt_ms(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _settings(**overrides: Any) -> Settings:
    from aios.config import load_settings

    return load_settings(_State.config, **overrides)


@contextlib.contextmanager
def progress(first: str = "starting") -> Iterator[Callable[[str], None]]:
    """Show what a long job is doing; yields a function that says what it does now.

    On a terminal: a transient spinner on stderr. Otherwise (output sent to a file): one line per step,
    and a heartbeat line every `HEARTBEAT_S` while a step lasts.
    """
    if err_console.is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task_id = bar.add_task(first, total=None)
            yield lambda message: bar.update(task_id, description=message)
        return
    with _LineProgress(first) as say:
        yield say


class _LineProgress:
    """Progress as plain lines on stderr, for logs and CI."""

    def __init__(self, first: str) -> None:
        self._started = time.monotonic()
        self._message = first
        self._step_started = self._started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="aios-progress", daemon=True)

    def __enter__(self) -> Callable[[str], None]:
        self._line(self._message)
        self._beat.start()
        return self.say

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._beat.join()
        self._line(f"finished in {time.monotonic() - self._started:.0f}s")

    def say(self, message: str) -> None:
        with self._lock:
            if message == self._message:
                return
            self._message, self._step_started = message, time.monotonic()
        self._line(message)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                message, since = self._message, time.monotonic() - self._step_started
            self._line(f"{message} (still running, {since:.0f}s)")

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        err_console.print(f"[{elapsed:6.0f}s] {text}", markup=False, highlight=False, soft_wrap=True)


def on_kernel(settings: Settings, work: Callable[[Kernel, Callable[[str], None]], Awaitable[T]]) -> T:
    """Boot a kernel, run `work` with a progress reporter it can update, and shut the kernel down."""
    from aios.boot import boot

    async def go() -> T:
        with progress("starting the kernel") as say:
            kernel = await boot(
                settings, cwd=Path.cwd(), on_engine_load=lambda name: say(f"loading model {name}")
            )
            try:
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


class DefaultCommandGroup(TyperGroup):
    """A group whose first command runs when the arguments name no other one: `aios eval osworld PATH`
    keeps working beside `aios eval osworld check PATH`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [next(iter(self.commands)), *args]
        return super().parse_args(ctx, args)
