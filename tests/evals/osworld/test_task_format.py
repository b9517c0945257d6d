"""OSWorld's task and meta files read as they are, and the evaluator's scoring rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aios.evals.osworld import apps
from aios.evals.osworld.evaluation import SHIPPED
from aios.evals.osworld.getters import GetterContext
from aios.evals.osworld.guest import GuestConfig
from aios.evals.osworld.runner import check_supported
from aios.evals.osworld.scoring import score
from aios.evals.osworld.task import Evaluator, TaskFormatError, load_task, load_tasks
from aios.evals.osworld.unsupported import NeedsNetwork, Unsupported

# The shape of a genuine task file (OSWorld's os domain), with the newer keys and one no one knows yet.
GENUINE = {
    "id": "5ea617a3-0e86-4ba6-aab2-dac9aa2e8d57",
    "snapshot": "os",
    "instruction": "Bring back the poster I deleted by mistake: it is in the Trash.",
    "source": "https://example.org/restore-deleted-files",
    "config": [
        {
            "type": "download",
            "parameters": {
                "files": [
                    {"url": "https://example.org/poster.webp", "path": "/home/user/Desktop/poster.webp"}
                ]
            },
        },
        {
            "type": "execute",
            "parameters": {"command": "gio trash /home/user/Desktop/poster.webp", "shell": True},
        },
    ],
    "trajectory": "trajectories/",
    "related_apps": ["os"],
    "evaluator": {
        "func": "exact_match",
        "result": {
            "type": "vm_command_line",
            "command": "[ -f /home/user/Desktop/poster.webp ] && echo 'File exists.' "
            "|| echo 'File does not exist.'",
            "shell": True,
        },
        "expected": {"type": "rule", "rules": {"expected": "File exists.\n"}},
    },
    "proxy": False,
    "fixed_ip": False,
    "possibility_of_env_change": "low",
    "added_by_a_later_release": {"anything": [1, 2]},
}


def _write(root: Path, domain: str, task: dict[str, Any]) -> Path:
    path = root / "examples" / domain / f"{task['id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(task))
    return path


def test_a_genuine_task_file_loads_with_unknown_keys_kept(tmp_path: Path) -> None:
    task = load_task(_write(tmp_path, "os", GENUINE))
    assert task.domain == "os" and task.id == GENUINE["id"] and task.config[0].type == "download"
    assert task.model_extra == {"added_by_a_later_release": {"anything": [1, 2]}}
    assert task.evaluator.metrics() == [
        ("exact_match", GENUINE["evaluator"]["result"], GENUINE["evaluator"]["expected"], {})
    ]


def test_meta_files_pick_tasks_and_domains(tmp_path: Path) -> None:
    other = {**GENUINE, "id": "b6781586-6346-41cd-935a-a6b1487918fc", "snapshot": "chrome"}
    _write(tmp_path, "os", GENUINE)
    _write(tmp_path, "chrome", other)
    (tmp_path / "test_all.json").write_text(json.dumps({"os": [GENUINE["id"]], "chrome": [other["id"]]}))
    (tmp_path / "test_small.json").write_text(json.dumps({"chrome": [other["id"]]}))
    assert [(t.domain, t.id) for t in load_tasks(tmp_path)] == [
        ("os", GENUINE["id"]),
        ("chrome", other["id"]),
    ]
    assert [t.id for t in load_tasks(tmp_path, domains=["chrome"])] == [other["id"]]
    assert [t.id for t in load_tasks(tmp_path, meta=tmp_path / "test_small.json")] == [other["id"]]
    (tmp_path / "test_all.json").write_text(json.dumps({"os": ["no-such-task"]}))
    with pytest.raises(TaskFormatError, match="os/no-such-task is listed but"):
        load_tasks(tmp_path)


def test_bad_task_files_say_which_file_and_what(tmp_path: Path) -> None:
    broken = tmp_path / "os" / "x.json"
    broken.parent.mkdir()
    broken.write_text(json.dumps({k: v for k, v in GENUINE.items() if k != "instruction"}))
    with pytest.raises(TaskFormatError, match=r"x\.json: not an OSWorld task: instruction: Field required"):
        load_tasks(tmp_path)
    broken.write_text("{not json")
    with pytest.raises(TaskFormatError, match=r"x\.json"):
        load_tasks(tmp_path)
    with pytest.raises(TaskFormatError, match="no such task"):
        load_tasks(tmp_path / "missing")


def test_unsupported_steps_getters_and_metrics_are_named_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apps, "APP_BINARIES", {**apps.APP_BINARIES, "moon_app": "no-such-program-here"})

    def task_with(**changes: Any) -> Any:
        return load_task(_write(tmp_path, "os", {**GENUINE, **changes}))

    check_supported(task_with(), GuestConfig())
    cases = {
        "setup:tidy_desktop": task_with(config=[{"type": "tidy_desktop", "parameters": {}}]),
        "metric:check_the_moon": task_with(evaluator={**GENUINE["evaluator"], "func": "check_the_moon"}),
        "getter:moon_phase": task_with(evaluator={**GENUINE["evaluator"], "result": {"type": "moon_phase"}}),
        "app:moon_app": task_with(related_apps=["Moon App"]),
    }
    for what, task in cases.items():
        with pytest.raises(Unsupported) as caught:
            check_supported(task, GuestConfig())
        assert caught.value.what == what
    with pytest.raises(NeedsNetwork, match="setup:googledrive"):
        check_supported(task_with(config=[{"type": "googledrive", "parameters": {}}]), GuestConfig())


class _Nothing:
    """A task computer with nothing on it: every command prints nothing, every file is missing."""

    def run(self, command: Any, *, shell: bool = False, timeout_s: float | None = None) -> Any:
        from aios.evals.osworld.guest import CommandResult

        return CommandResult(0, "out\n", "")

    def read_file(self, path: str) -> bytes | None:
        return None


def _ctx(tmp_path: Path) -> GetterContext:
    def no_browser() -> Any:
        raise AssertionError("not used")

    return GetterContext(_Nothing(), tmp_path, None, no_browser, lambda: "", lambda: "")


def _evaluator(**fields: Any) -> Evaluator:
    return Evaluator.model_validate(fields)


def test_scoring_follows_osworld(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    out = {"type": "vm_command_line", "command": "x"}

    def rule(expected: str) -> dict[str, Any]:
        return {"type": "rule", "rules": {"expected": expected}}

    right, wrong = rule("out\n"), rule("other")
    assert score(_evaluator(func="infeasible"), ctx, last_action="FAIL") == 1.0
    assert score(_evaluator(func="infeasible"), ctx, last_action="DONE") == 0.0
    assert score(_evaluator(func="exact_match", result=out, expected=right), ctx, last_action="DONE") == 1.0
    # a FAIL on a feasible task is a 0, however the state looks
    assert score(_evaluator(func="exact_match", result=out, expected=right), ctx, last_action="FAIL") == 0.0
    both = {"func": ["exact_match", "exact_match"], "result": [out, out]}
    assert score(_evaluator(**both, expected=[right, wrong]), ctx, last_action="DONE") == 0.0
    assert score(_evaluator(**both, expected=[right, right]), ctx, last_action="DONE") == 1.0
    assert score(_evaluator(**both, expected=[wrong, right], conj="or"), ctx, last_action="DONE") == 1.0
    assert score(_evaluator(**both, expected=[wrong, wrong], conj="or"), ctx, last_action="DONE") == 0.0
    # options reach the metric; a missing result file scores 0
    text = tmp_path / "e.txt"
    text.write_text("A")
    missing = {"type": "vm_file", "path": "/home/user/none.txt", "dest": "none.txt"}
    expected = {"type": "cache_file", "path": "e.txt"}
    evaluator = _evaluator(
        func="compare_text_file", result=missing, expected=expected, options={"ignore_case": True}
    )
    ctx.cache_dir = tmp_path
    assert score(evaluator, ctx, last_action="DONE") == 0.0
    with pytest.raises(Unsupported, match="metric:no_such_metric"):
        score(_evaluator(func="no_such_metric", result=out, expected=right), ctx, last_action="DONE")
    with pytest.raises(ValueError, match="conj"):
        _evaluator(func="exact_match", conj="xor")


def test_the_shipped_suite_is_whole() -> None:
    tasks = load_tasks(SHIPPED)
    assert len(tasks) >= 30
    domains = {t.domain for t in tasks}
    assert {"os", "terminal", "text_editing", "chrome", "multi_apps"} <= domains
    assert sum(t.evaluator.infeasible for t in tasks) >= 3
    for task in tasks:
        assert task.solution, f"{task.domain}/{task.id} has no reference solution"
        check_supported(task, GuestConfig())


def test_windows_answer_to_the_names_osworlds_vm_gives_them() -> None:
    from aios.evals.osworld.setup_steps import _label_matches

    assert _label_matches("New Tab - Chromium", "Google Chrome", strict=False)
    assert _label_matches("Mail.thunderbird-default", "Mail.thunderbird", strict=True)
    assert _label_matches("a.xlsx - LibreOffice Calc", "a.xlsx - LibreOffice Calc", strict=True)
    assert not _label_matches("b.xlsx - LibreOffice Calc", "a.xlsx - LibreOffice Calc", strict=True)
    assert not _label_matches("Terminal", "Google Chrome", strict=False)
