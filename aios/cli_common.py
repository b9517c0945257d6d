"""What every `aios` subcommand shares: the global options, the consoles, the spinner."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from aios.config import Settings, load_settings

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
