"""`aios eval osworld` and `aios eval report` as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aios.evals.osworld.evaluation import SHIPPED
from aios.evals.osworld.task import load_tasks
from tests.cli_helpers import aios


def test_eval_osworld_and_report(tmp_path: Path, env: dict[str, str]) -> None:
    [task] = [t for t in load_tasks(SHIPPED) if t.source == "aios-suite:count-lines"]
    task_file = SHIPPED / task.domain / f"{task.id}.json"
    run = aios(
        "eval", "osworld", str(task_file), "--agent", "oracle", "--results", "out", env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"tasks=1 oracle_success=1\.00 env_setup_p50_s=\d+\.\d+", run.stdout.splitlines()[-1])
    assert json.loads((tmp_path / "out/pyautogui/a11y_tree/oracle/summary.json").read_text())["scored"] == 1
    report = aios("eval", "report", "out", env=env, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert report.stdout.strip().splitlines()[-1] == str(tmp_path / "out" / "report.html")
    assert "oracle" in report.stdout and "os 100%" in report.stdout


def test_bad_arguments_get_clear_errors(tmp_path: Path, env: dict[str, str]) -> None:
    missing = aios("eval", "osworld", "nowhere", "--agent", "oracle", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "no such task file or folder" in missing.stderr
    space = aios("eval", "osworld", "--action-space", "mouse", env=env, cwd=tmp_path)
    assert space.returncode == 2 and "pyautogui, computer_13" in space.stderr
    empty = aios("eval", "report", "nothing-here", env=env, cwd=tmp_path)
    assert empty.returncode == 2 and "is not a results folder" in empty.stderr
