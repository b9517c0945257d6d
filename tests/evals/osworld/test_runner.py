"""The runner end to end on shipped tasks and on tasks that go wrong, with OSWorld's result layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aios.evals.osworld.agents import BUILTIN
from aios.evals.osworld.evaluation import SHIPPED, SHIPPED_CACHE, evaluate
from aios.evals.osworld.report import build_report
from aios.evals.osworld.results import Status, Summary
from aios.evals.osworld.runner import RunConfig, run_tasks
from aios.evals.osworld.task import Task, load_task, load_tasks

PICKED = ("create-folder", "whoami", "follow-link", "replace-word", "infeasible-spotify", "csv-to-xlsx")
"""One task of each kind: files, terminal, browser, editor, infeasible, a spreadsheet written by code."""


def _shipped() -> list[Task]:
    tasks = [t for t in load_tasks(SHIPPED) if str(t.source).removeprefix("aios-suite:") in PICKED]
    assert len(tasks) == len(PICKED)
    return tasks


def _config(tmp_path: Path, **changes: Any) -> RunConfig:
    return RunConfig(results=tmp_path / "results", cache_dir=SHIPPED_CACHE, parallel=3, **changes)


def _scores(outcomes: list[Any]) -> dict[str, tuple[str, float]]:
    return {o.id: (o.status.value, o.score) for o in outcomes}


async def test_oracle_passes_noop_fails_and_fail_wins_only_infeasible_tasks(tmp_path: Path) -> None:
    tasks = _shipped()
    infeasible = {t.id for t in tasks if t.evaluator.infeasible}
    expected = {
        "oracle": {t.id: ("scored", 1.0) for t in tasks},
        "noop": {t.id: ("scored", 0.0) for t in tasks},
        "fail": {t.id: ("scored", 1.0 if t.id in infeasible else 0.0) for t in tasks},
    }
    for agent, wanted in expected.items():
        config = _config(tmp_path, model=agent)
        evaluation = await evaluate(tasks, agent, config, BUILTIN[agent])
        assert _scores(evaluation.outcomes) == wanted, agent

    run = tmp_path / "results" / "pyautogui" / "screenshot" / "oracle"
    summary = Summary.model_validate_json((run / "summary.json").read_text())
    assert summary.tasks == summary.scored == len(tasks) and summary.success_rate == 1.0
    assert summary.env_setup_p50_s is not None and summary.env_setup_p50_s > 0
    folder = run / "os" / next(t.id for t in tasks if t.domain == "os")
    assert (folder / "result.txt").read_text() == "1.0\n"
    steps = [json.loads(line) for line in (folder / "traj.jsonl").read_text().splitlines()]
    assert [s["step_num"] for s in steps] == [1, 2] and steps[-1]["action"] == "DONE" and steps[-1]["done"]
    assert all((folder / s["screenshot_file"]).stat().st_size > 1000 for s in steps)
    assert {"action_timestamp", "reward", "info", "response"} <= steps[0].keys()

    summaries, page = build_report(tmp_path / "results")
    assert sorted(s.agent for s in summaries) == ["fail", "noop", "oracle"]
    html = page.read_text()
    assert html.count("<details>") == 3 * len(tasks) and 'src="pyautogui/screenshot/oracle/os/' in html


def _task(tmp_path: Path, name: str, **fields: Any) -> Task:
    data = {
        "id": name,
        "instruction": "x",
        "config": [],
        "evaluator": {
            "func": "exact_match",
            "result": {"type": "vm_command_line", "command": "echo ok"},
            "expected": {"type": "rule", "rules": {"expected": "ok\n"}},
        },
        "solution": [],
        **fields,
    }
    path = tmp_path / "tasks" / "os" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return load_task(path)


async def test_tasks_that_cannot_get_a_fair_run_are_counted_apart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tasks = [
        _task(tmp_path, "fair"),
        _task(
            tmp_path,
            "bad-setup",
            config=[{"type": "execute", "parameters": {"command": "sleep 5", "timeout": 0.2}}],
        ),
        _task(
            tmp_path,
            "needs-network",
            config=[
                {"type": "download", "parameters": {"files": [{"url": "https://example.org/f", "path": "f"}]}}
            ],
        ),
        _task(
            tmp_path,
            "unknown-metric",
            evaluator={"func": "check_the_moon", "result": {"type": "vm_file", "path": "a"}},
        ),
        _task(tmp_path, "no-solution", solution=None),
    ]
    evaluation = await evaluate(tasks, "oracle", _config(tmp_path, model="oracle"), BUILTIN["oracle"])
    by_id = {o.id: o for o in evaluation.outcomes}
    assert by_id["fair"].status == Status.SCORED and by_id["fair"].score == 1.0
    assert by_id["bad-setup"].status == Status.SETUP_ERROR and "timed out" in by_id["bad-setup"].detail
    assert (
        by_id["needs-network"].status == Status.NEEDS_NETWORK
        and "https://example.org/f" in by_id["needs-network"].detail
    )
    assert by_id["unknown-metric"].status == Status.UNSUPPORTED
    assert (
        by_id["no-solution"].status == Status.CRASHED
        and "no reference solution" in by_id["no-solution"].detail
    )
    [crash] = [r for r in caplog.records if "no-solution: the agent's reset raised" in r.getMessage()]
    assert crash.exc_info is not None  # the agent's traceback is kept in the log, not only its message
    s = evaluation.summary
    assert s.scored == 1 and s.success_rate == 1.0 and s.success_over_all == 0.2
    assert s.by_status == {"crashed": 1, "needs_network": 1, "scored": 1, "setup_error": 1, "unsupported": 1}
    assert s.unsupported == {"metric:check_the_moon": 1}
    assert not (evaluation.folder / "os" / "bad-setup" / "result.txt").exists()  # no score for an unfair run
    json.loads((evaluation.folder / "summary.json").read_text())


async def test_parallel_tasks_see_neither_each_others_files_nor_windows(tmp_path: Path) -> None:
    """Each task marks its home and opens a titled window, then (while the other runs) records what it
    sees; each must see only its own."""

    def isolated(me: str, other: str) -> Task:
        look = (
            "import os, time\n"
            "from Xlib import display\n"
            "time.sleep(1.5)\n"
            "d = display.Display()\n"
            "names = [d.create_resource_object('window', w).get_wm_name() for w in "
            "d.screen().root.get_full_property(d.intern_atom('_NET_CLIENT_LIST'), 0).value]\n"
            "home = os.path.expanduser('~')\n"
            "open(home + '/seen.txt', 'w').write(' '.join(map(str, names + os.listdir(home))))"
        )
        return _task(
            tmp_path,
            f"iso-{me}",
            config=[
                {"type": "execute", "parameters": {"command": f"touch ~/mark-{me}", "shell": True}},
                {"type": "launch", "parameters": {"command": ["xterm", "-title", f"win-{me}"]}},
                {"type": "activate_window", "parameters": {"window_name": f"win-{me}"}},
            ],
            evaluator={
                "func": "check_include_exclude",
                "result": {"type": "vm_command_line", "command": "cat ~/seen.txt"},
                "expected": {
                    "type": "rule",
                    "rules": {
                        "include": [f"win-{me}", f"mark-{me}"],
                        "exclude": [f"win-{other}", f"mark-{other}"],
                    },
                },
            },
            solution=[look],
        )

    home_before = sorted(p.name for p in Path.home().iterdir())
    outcomes = await run_tasks([isolated("a", "b"), isolated("b", "a")], BUILTIN["oracle"], _config(tmp_path))
    assert _scores(outcomes) == {"iso-a": ("scored", 1.0), "iso-b": ("scored", 1.0)}
    a, b = outcomes
    overlap = min(a.started_at + a.seconds, b.started_at + b.seconds) - max(a.started_at, b.started_at)
    assert overlap > 1.0  # both computers were up together, so seeing nothing of the other means something
    assert sorted(p.name for p in Path.home().iterdir()) == home_before  # the real home is untouched


async def test_an_agent_that_hangs_or_raises_is_stopped_and_named(tmp_path: Path) -> None:
    class Hangs:
        name = "hangs"

        async def reset(self, task: Task) -> None:
            return None

        async def predict(self, observation: Any) -> Any:
            import asyncio

            await asyncio.sleep(3600)

        async def close(self) -> None:
            return None

    class Garbage(Hangs):
        async def predict(self, observation: Any) -> Any:
            from aios.evals.osworld.agents import Prediction

            return Prediction(actions=[{"not": "code"}])

    task = _task(tmp_path, "t")
    [hung] = await run_tasks([task], Hangs, _config(tmp_path, task_timeout_s=2))
    assert hung.status == Status.TIMEOUT
    [bad] = await run_tasks([task], Garbage, _config(tmp_path))
    assert bad.status == Status.CRASHED and "not a pyautogui action" in bad.detail


async def test_computer_13_actions_run_and_are_recorded_as_given(tmp_path: Path) -> None:
    from aios.evals.osworld.agents import OracleAgent

    typing = {"action_type": "TYPING", "parameters": {"text": "echo c13 > ~/c13.txt"}}
    enter = {"action_type": "PRESS", "parameters": {"key": "enter"}}
    task = _task(
        tmp_path,
        "c13",
        config=[
            {"type": "launch", "parameters": {"command": ["xterm"]}},
            {"type": "activate_window", "parameters": {"window_name": "Terminal"}},
        ],
        evaluator={
            "func": "exact_match",
            "result": {"type": "vm_command_line", "command": "cat ~/c13.txt"},
            "expected": {"type": "rule", "rules": {"expected": "c13\n"}},
        },
        solution=[typing, enter, {"action_type": "WAIT"}],
    )
    [outcome] = await run_tasks([task], OracleAgent, _config(tmp_path, action_space="computer_13"))
    assert (outcome.status, outcome.score) == (Status.SCORED, 1.0), outcome.detail
    folder = tmp_path / "results" / "computer_13" / "screenshot" / "none" / "os" / "c13"
    steps = [json.loads(line) for line in (folder / "traj.jsonl").read_text().splitlines()]
    assert [s["action"] for s in steps] == [typing, enter, "WAIT", "DONE"]
    assert steps[0]["info"]["code"] == "pyautogui.write('echo c13 > ~/c13.txt', interval=0.01)"
