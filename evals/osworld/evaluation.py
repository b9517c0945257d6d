"""One evaluation run: the tasks, the agent (built in, or an SDK agent on a kernel), the summary on disk."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aios.evals.osworld.agents import BUILTIN, EvalAgent
from aios.evals.osworld.driver import TaskComputerDriver
from aios.evals.osworld.kernel_agent import KernelAgent
from aios.evals.osworld.results import SUMMARY, Summary, TaskOutcome, summarize
from aios.evals.osworld.runner import RunConfig, run_tasks
from aios.evals.osworld.task import Task
from aios.kernel.contracts import KernelAPI

if TYPE_CHECKING:
    from aios.agent_host import AgentHost

SHIPPED = Path(__file__).with_name("tasks")
SHIPPED_CACHE = Path(__file__).with_name("cache")


@dataclass
class Evaluation:
    summary: Summary
    outcomes: list[TaskOutcome]
    folder: Path
    serial_wall_s: float | None = None
    """Wall time of the same tasks one at a time (the oracle's benchmark), when measured."""
    parallel: int = 1

    def last_line(self) -> str:
        s = self.summary
        rate = s.success_rate if s.success_rate is not None else 0.0
        name = "oracle_success" if s.agent == "oracle" else "success"
        parts = [f"tasks={s.tasks}", f"{name}={rate:.2f}"]
        if self.serial_wall_s is not None and s.wall_seconds > 0:
            parts.append(f"speedup_{self.parallel}={self.serial_wall_s / s.wall_seconds:.2f}")
        parts.append(f"env_setup_p50_s={s.env_setup_p50_s if s.env_setup_p50_s is not None else 'nan'}")
        return " ".join(parts)


def agent_factory(
    name: str,
    config: RunConfig,
    *,
    kernel: KernelAPI | None = None,
    driver: TaskComputerDriver | None = None,
    host: AgentHost | None = None,
    model: str | None = None,
) -> Callable[[], EvalAgent]:
    """A new agent per task: a built-in one, or the named SDK agent run as a kernel process."""
    if name in BUILTIN:
        return BUILTIN[name]
    if kernel is None or driver is None:
        raise ValueError(f"agent {name!r} runs on a kernel: boot one and pass it with the osworld driver")
    return lambda: KernelAgent(
        kernel,
        driver,
        name,
        host=host,
        model=model,
        action_space=config.action_space,
        observation_type=config.observation_type,
    )


async def evaluate(
    tasks: list[Task],
    agent: str,
    config: RunConfig,
    make_agent: Callable[[], EvalAgent],
    *,
    on_done: Callable[[TaskOutcome], None] = lambda _: None,
    compare_serial: bool = False,
) -> Evaluation:
    """Run every task, write `summary.json` beside the task folders, and measure the serial run too when
    asked (the parallel speed-up is then a ratio of two wall times of this one process)."""
    serial_wall = None
    if compare_serial and config.parallel > 1:
        serial = RunConfig(**{**config.__dict__, "parallel": 1})
        started = time.monotonic()
        await run_tasks(tasks, make_agent, serial, on_done=on_done)
        serial_wall = time.monotonic() - started
    started = time.monotonic()
    outcomes = await run_tasks(tasks, make_agent, config, on_done=on_done)
    wall = time.monotonic() - started
    summary = summarize(
        outcomes,
        agent=agent,
        model=config.model,
        action_space=config.action_space,
        observation_type=config.observation_type,
        wall_s=wall,
    )
    folder = config.results / config.action_space / config.observation_type / config.model.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SUMMARY).write_text(summary.model_dump_json(indent=2))
    return Evaluation(summary, outcomes, folder, serial_wall, parallel=config.parallel)
