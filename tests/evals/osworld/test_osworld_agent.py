"""The bundled `osworld` agent, isolated, on the embedded model, through the kernel: mechanics only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aios.agent_host import start_agent_host
from aios.agent_launch import spawn_agent
from aios.agents.osworld import ACTIONS, to_action
from aios.boot import boot
from aios.config import Settings
from aios.evals.osworld.agents import Observation
from aios.evals.osworld.driver import TaskComputerDriver
from aios.evals.osworld.evaluation import SHIPPED, SHIPPED_CACHE, agent_factory, evaluate
from aios.evals.osworld.runner import RunConfig
from aios.evals.osworld.task import load_tasks
from aios.kernel.engines.local import LocalEngine
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from tests.isolation.probe_agents import Peeker


@pytest.mark.model
async def test_the_bundled_agent_acts_on_a_task_and_its_trajectory_is_written(
    settings: Settings, tmp_path: Path, local_engine: LocalEngine
) -> None:
    [task] = [t for t in load_tasks(SHIPPED) if t.source == "aios-suite:follow-link"]
    driver = TaskComputerDriver()
    kernel = await boot(settings, cwd=tmp_path, extra_drivers=[driver])
    kernel.engines.register("local", local_engine)
    host = await start_agent_host(kernel, settings.agents, data_dir=settings.data_dir)
    try:
        config = RunConfig(
            results=tmp_path / "results",
            model="local",
            observation_type="a11y_tree",
            max_steps=2,
            cache_dir=SHIPPED_CACHE,
        )
        make = agent_factory("osworld", config, kernel=kernel, driver=driver, host=host, model="local")
        evaluation = await evaluate([task], "osworld", config, make)
        [outcome] = evaluation.outcomes
        assert outcome.status.value == "scored", outcome.detail  # a real 0 or 1, not a crash or timeout
        assert 1 <= outcome.steps <= 2 and outcome.tokens > 0
        folder = evaluation.folder / "chrome" / task.id
        steps = [json.loads(line) for line in (folder / "traj.jsonl").read_text().splitlines()]
        assert len(steps) == outcome.steps
        for step in steps:
            choice = json.loads(step["response"])  # the model's schema-constrained answer, kept verbatim
            assert choice["action"] in ACTIONS and step["action"] == to_action(choice, "pyautogui")
            assert (folder / step["screenshot_file"]).is_file()
        records = [r for r in kernel.store.list_processes() if r.agent == "osworld"]
        assert [r.state for r in records] == [ProcessState.DONE]  # it ended when told the task was over
    finally:
        await host.close()
        await kernel.shutdown(close_engines=False)


async def test_an_evaluated_agent_cannot_read_the_tasks_solutions(kernel: Kernel, settings: Settings) -> None:
    """The attack: the shipped tasks (with their reference solutions) lie on the import path the agent's
    sandbox shows, so a cheating agent reads them. `aios eval osworld` hides them."""
    [task] = [t for t in load_tasks(SHIPPED) if t.source == "aios-suite:follow-link"]
    answers = SHIPPED / task.domain / f"{task.id}.json"
    seen = {}
    for hidden in ([], [SHIPPED, SHIPPED_CACHE]):
        host = await start_agent_host(kernel, settings.agents, data_dir=settings.data_dir, hidden=hidden)
        try:
            record = await kernel.wait(await spawn_agent(kernel, Peeker, str(answers), host=host))
        finally:
            await host.close()
        seen[bool(hidden)] = record.result or record.error
    assert seen[False].startswith("read:{")  # without the defence the attack works (the control)
    assert seen[True] == "hidden:FileNotFoundError"


async def test_a_process_not_running_a_task_is_refused_by_the_driver() -> None:
    from aios.kernel.drivers import CallContext
    from aios.kernel.errors import ToolError

    driver = TaskComputerDriver()
    with pytest.raises(ToolError, match="process 7 is not running an evaluation task"):
        await driver.call(
            "observe", driver.operations()["observe"].args_model(), CallContext(pid=7, workdir=Path())
        )


def test_the_agents_choices_become_actions_of_both_spaces() -> None:
    click = {"action": "CLICK", "x": 10, "y": 20, "text": ""}
    assert to_action(click, "pyautogui") == "pyautogui.click(10, 20)"
    assert to_action(click, "computer_13") == {"action_type": "CLICK", "parameters": {"x": 10, "y": 20}}
    hotkey = {"action": "HOTKEY", "x": 0, "y": 0, "text": "ctrl+l"}
    assert to_action(hotkey, "pyautogui") == "pyautogui.hotkey('ctrl', 'l')"
    assert to_action({"action": "FAIL", "x": 0, "y": 0, "text": ""}, "computer_13") == "FAIL"
    typed = to_action({"action": "TYPE", "x": 0, "y": 0, "text": "a'b"}, "pyautogui")
    assert typed == 'pyautogui.write("a\'b", interval=0.02)'
    assert Observation(instruction="x").screenshot is None
