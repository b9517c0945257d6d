"""Runs OSWorld-format tasks: a fresh sandboxed computer per task, the agent's predict/step loop, scoring,
and OSWorld's result layout; several tasks at once."""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aios.evals.osworld.accessibility import linearize, start_bus, tree_xml
from aios.evals.osworld.actions import SPECIAL, execute, normalize
from aios.evals.osworld.agents import EvalAgent, Observation
from aios.evals.osworld.chrome import TaskBrowser
from aios.evals.osworld.coverage import task_reasons
from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import Guest, GuestConfig, GuestError
from aios.evals.osworld.results import OUTCOME, Status, TaskOutcome, Trajectory, task_dir
from aios.evals.osworld.scoring import score
from aios.evals.osworld.setup_steps import StepContext, run_steps
from aios.evals.osworld.task import Task
from aios.evals.osworld.unsupported import NeedsNetwork, SetupFailed, Unsupported
from aios.tools.xclient import XSession

logger = logging.getLogger(__name__)

OBSERVATION_TYPES = ("screenshot", "a11y_tree", "screenshot_a11y_tree")
ACTION_SPACES = ("pyautogui", "computer_13")


@dataclass(kw_only=True)
class RunConfig:
    results: Path
    model: str = "none"
    action_space: str = "pyautogui"
    observation_type: str = "screenshot"
    max_steps: int = 15
    task_timeout_s: float = 600.0
    parallel: int = 1
    cache_dir: Path | None = None
    settle_s: float = 0.3
    """Pause after each action before the next screenshot (apps redraw)."""
    guest: GuestConfig = field(default_factory=GuestConfig)


def check_supported(task: Task, guest: GuestConfig, cache_dir: Path | None = None) -> None:
    """Raise for the first thing the task needs that this runner or machine lacks: NeedsNetwork for an
    online service or a live page, Unsupported for the rest (`aios eval osworld check` lists them all)."""
    reasons, _ = task_reasons(task, guest, cache_dir)
    if not reasons:
        return
    first = reasons[0]
    if first.kind == "network":
        raise NeedsNetwork(first.detail or first.what, reason=f"needs the network ({first.what})")
    raise Unsupported(first.key, first.detail)


def _png(x: XSession) -> bytes:
    buffer = io.BytesIO()
    x.screenshot().save(buffer, format="PNG")
    return buffer.getvalue()


class TaskRun:
    """One task from setup to teardown; blocking, run in a worker thread."""

    def __init__(
        self, task: Task, agent: EvalAgent, config: RunConfig, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.task, self.agent, self.config, self.loop = task, agent, config, loop
        self.folder = task_dir(
            config.results, config.action_space, config.observation_type, config.model, task.domain, task.id
        )
        self.outcome = TaskOutcome(domain=task.domain, id=task.id, status=Status.SCORED)
        self._last_shot: bytes | None = None

    def run(self) -> TaskOutcome:
        started = time.monotonic()
        self.outcome.started_at = time.time()
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        try:
            check_supported(self.task, self.config.guest, self.config.cache_dir)
            self._in_fresh_computer(started)
        except Unsupported as exc:
            self._end(Status.UNSUPPORTED, str(exc))
        except NeedsNetwork as exc:
            self._end(Status.NEEDS_NETWORK, str(exc))
        except (SetupFailed, GuestError) as exc:
            self._end(Status.SETUP_ERROR, str(exc))
        except Exception as exc:  # one task's failure must not end the run of the others
            logger.exception("task %s/%s", self.task.domain, self.task.id)
            self._end(Status.ERROR, f"{type(exc).__name__}: {exc}")
        self.outcome.seconds = round(time.monotonic() - started, 3)
        if self.outcome.status == Status.SCORED:
            (self.folder / "result.txt").write_text(f"{self.outcome.score}\n")
        (self.folder / OUTCOME).write_text(self.outcome.model_dump_json(indent=2))
        return self.outcome

    def _end(self, status: Status, detail: str) -> None:
        self.outcome.status, self.outcome.detail = status, detail
        logger.info("task %s/%s: %s %s", self.task.domain, self.task.id, status.value, detail)

    def _in_fresh_computer(self, started: float) -> None:
        t0 = time.monotonic()
        guest = Guest(self.config.guest)
        guest.start()
        try:
            start_bus(guest)
            x = XSession(guest.display_name, focus_timeout_s=10.0)
            self.outcome.env_setup_s = round(time.monotonic() - t0, 3)
            try:
                browser = TaskBrowser(guest.sandbox_pid)
                steps = StepContext(guest, x, browser, self.config.cache_dir)
                run_steps(self.task.config, steps)
                try:
                    finished = self._act(guest, x, started)
                finally:
                    asyncio.run_coroutine_threadsafe(self.agent.close(), self.loop).result()
                if finished:
                    self._evaluate(guest, steps)
            finally:
                x.close()
        finally:
            guest.stop()

    def _observe(self, guest: Guest, x: XSession) -> Observation:
        kind = self.config.observation_type
        png = None
        if "screenshot" in kind:
            png = self._last_shot or _png(x)  # the screen the last step's screenshot caught
        tree = linearize(tree_xml(guest)) if "a11y_tree" in kind else None
        return Observation(instruction=self.task.instruction, screenshot=png, accessibility_tree=tree)

    def _save_shot(self, x: XSession, step: int) -> str:
        name = f"step_{step}_{datetime.now().strftime('%Y%m%d@%H%M%S%f')}.png"
        self._last_shot = _png(x)
        (self.folder / name).write_bytes(self._last_shot)
        return name

    def _act(self, guest: Guest, x: XSession, started: float) -> bool:
        """The predict/step loop; False when the run ended without a fair evaluation (timeout, crash)."""
        trajectory = Trajectory(self.folder)
        try:
            asyncio.run_coroutine_threadsafe(self.agent.reset(self.task), self.loop).result()
        except Exception as exc:
            logger.exception("task %s/%s: the agent's reset raised", self.task.domain, self.task.id)
            self._end(Status.CRASHED, f"agent reset: {type(exc).__name__}: {exc}")
            return False
        step = 0  # predictions, as OSWorld counts steps; each may carry several actions
        while step < self.config.max_steps:
            if time.monotonic() - started > self.config.task_timeout_s:
                self._end(Status.TIMEOUT, f"past {self.config.task_timeout_s:.0f}s after {step} steps")
                return False
            observation = self._observe(guest, x)
            left = max(1.0, self.config.task_timeout_s - (time.monotonic() - started))
            pending = asyncio.run_coroutine_threadsafe(self.agent.predict(observation), self.loop)
            try:
                prediction = pending.result(timeout=left)
            except TimeoutError:
                pending.cancel()
                self._end(Status.TIMEOUT, f"the agent's prediction ran past the task timeout at step {step}")
                return False
            except Exception as exc:
                logger.exception("task %s/%s: the agent's prediction raised", self.task.domain, self.task.id)
                self._end(Status.CRASHED, f"agent predict: {type(exc).__name__}: {exc}")
                return False
            self.outcome.tokens += prediction.tokens
            step += 1
            for raw in prediction.actions or ["WAIT"]:
                try:
                    action = normalize(raw, self.config.action_space)
                except (ValueError, KeyError, TypeError) as exc:
                    self._end(Status.CRASHED, f"step {step}: not a {self.config.action_space} action: {exc}")
                    return False
                done = action in ("DONE", "FAIL")
                info: dict[str, object] = {}
                if action == "WAIT":
                    time.sleep(1.0)
                elif action not in SPECIAL:
                    result = execute(guest, action)
                    info = {"ok": result.ok, "error": result.error}
                    if action != raw:
                        info["code"] = action  # what a computer_13 action ran as
                    time.sleep(self.config.settle_s)
                trajectory.add(
                    step_num=step,
                    action_timestamp=datetime.now().strftime("%Y%m%d@%H%M%S"),
                    action=raw if action not in SPECIAL else action,
                    response=prediction.response,
                    reward=0,
                    done=done,
                    info=info,
                    screenshot_file=self._save_shot(x, step),
                )
                self.outcome.steps += 1
                self.outcome.last_action = action
                if done:
                    return True
        return True

    def _evaluate(self, guest: Guest, steps: StepContext) -> None:
        try:
            run_steps(self.task.evaluator.postconfig, steps)
            files = self.folder / "eval_files"
            files.mkdir(exist_ok=True)
            ctx = GetterContext(
                guest=guest,
                files=files,
                cache_dir=self.config.cache_dir,
                browser=lambda: steps.browser,
                accessibility=lambda: tree_xml(guest),
                terminal_log=guest.terminal_log,
            )
            self.outcome.score = score(self.task.evaluator, ctx, last_action=self.outcome.last_action)
            self.outcome.status = Status.SCORED
        except (Unsupported, NeedsNetwork, SetupFailed):
            raise
        except Exception as exc:
            logger.exception("evaluating %s/%s", self.task.domain, self.task.id)
            self._end(Status.EVAL_ERROR, f"{type(exc).__name__}: {exc}")


async def run_tasks(
    tasks: list[Task],
    make_agent: Callable[[], EvalAgent],
    config: RunConfig,
    *,
    on_done: Callable[[TaskOutcome], None] = lambda _: None,
) -> list[TaskOutcome]:
    """Every task in a fresh computer, `config.parallel` at a time; outcomes in the tasks' order."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(config.parallel)

    async def one(task: Task) -> TaskOutcome:
        async with gate:
            outcome = await asyncio.to_thread(TaskRun(task, make_agent(), config, loop).run)
        on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(t) for t in tasks)))
