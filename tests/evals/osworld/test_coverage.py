"""`aios eval osworld check`: every task loaded without a computer, each reason it cannot run named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aios.cli import app
from aios.evals.osworld import apps
from aios.evals.osworld.apps import app_name
from aios.evals.osworld.coverage import coverage, task_reasons
from aios.evals.osworld.guest import GuestConfig
from aios.evals.osworld.task import TaskFormatError, load_task, load_tasks

TASK: dict[str, Any] = {
    "id": "00000000-0000-4000-8000-000000000001",
    "snapshot": "os",
    "instruction": "Say hello.",
    "config": [{"type": "execute", "parameters": {"command": ["true"]}}],
    "related_apps": ["os"],
    "evaluator": {
        "func": "exact_match",
        "result": {"type": "vm_command_line", "command": "echo hello"},
        "expected": {"type": "rule", "rules": {"expected": "hello\\n"}},
    },
}


def _write(root: Path, domain: str, task: dict[str, Any], name: str | None = None) -> Path:
    path = root / domain / f"{name or task['id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(task))
    return path


def _with(tmp_path: Path, **changes: Any) -> Any:
    return load_task(_write(tmp_path, "os", {**TASK, **changes}))


def test_genuine_spellings_of_apps_are_one_app() -> None:
    assert app_name("libreoffice calc") == app_name("Calc") == "libreoffice_calc"
    assert app_name("vscode") == app_name("VS Code") == app_name("vs_code") == "vs_code"
    assert app_name("Chrome") == app_name("browser") == "chrome"
    assert app_name("OS") == "os"


def test_every_reason_is_listed_once_first_the_missing_app(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(apps, "APP_BINARIES", {**apps.APP_BINARIES, "moon_app": "no-such-program-here"})
    task = _with(
        tmp_path,
        related_apps=["Moon App", "moon_app"],
        config=[
            {"type": "tidy_desktop", "parameters": {}},
            {"type": "login", "parameters": {}},
            {"type": "execute", "parameters": {"command": "echo password | sudo -S apt-get install -y jq"}},
            {"type": "launch", "parameters": {"command": ["no-such-program-here", "--flag"]}},
        ],
        evaluator={**TASK["evaluator"], "func": ["exact_match", "check_the_moon"]},
    )
    reasons, _ = task_reasons(task, GuestConfig())
    assert [r.key for r in reasons] == [
        "app:no-such-program-here",
        "app:moon_app",
        "metric:check_the_moon",
        "setup:tidy_desktop",
        "network:setup:login",
        "root:apt-get",
    ]


def test_a_live_page_needs_the_network_unless_online_or_cached(tmp_path: Path) -> None:
    live = {"type": "chrome_open_tabs", "parameters": {"urls_to_open": ["https://www.example.org/x"]}}
    task = _with(tmp_path, config=[live])
    assert [r.key for r in task_reasons(task, GuestConfig())[0]] == ["network:web page"]
    assert task_reasons(task, GuestConfig(), online=True)[0] == []
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "x").write_text("<html></html>")
    assert task_reasons(task, GuestConfig(), cache)[0] == []


def test_a_download_absent_from_the_cache_is_supported_and_counted(tmp_path: Path) -> None:
    item = {"url": "https://h.example/a.xlsx", "path": "a.xlsx"}
    get = {"type": "download", "parameters": {"files": [item]}}
    task = _with(tmp_path, config=[get])
    report = coverage([task], GuestConfig(), cache_dir=tmp_path)
    assert (report.supported, report.cache_missing) == (1, 1)
    assert report.last_line() == "tasks=1 supported=1 supported_share=1.00 cache_missing=1 bad_files=0"


def test_bad_files_and_twins_are_skipped_and_named(tmp_path: Path) -> None:
    _write(tmp_path, "os", TASK)
    _write(tmp_path / "Windows", "os", TASK)
    _write(tmp_path, "vlc", {**TASK, "evaluator": "evaluation_dir"}, name="draft")
    bad: list[TaskFormatError] = []
    tasks = load_tasks(tmp_path, bad=bad)
    assert [t.id for t in tasks] == [TASK["id"]]
    assert sorted(str(e).split(": ")[0].rsplit("/", 1)[-1] for e in bad) == [
        "draft.json",
        f"task os/{TASK['id']} appears twice under {tmp_path}".rsplit("/", 1)[-1],
    ]


def test_the_check_command_prints_domains_reasons_and_the_share(tmp_path: Path) -> None:
    _write(tmp_path, "os", TASK)
    moon = {**TASK["evaluator"], "func": "check_the_moon"}
    _write(tmp_path, "vlc", {**TASK, "id": "two", "evaluator": moon})
    _write(tmp_path, "vlc", {**TASK, "evaluator": "evaluation_dir"}, name="draft")
    (tmp_path / "test_all.json").write_text(json.dumps({"os": [TASK["id"]], "vlc": ["two", "draft"]}))
    out = tmp_path / "coverage.json"
    result = CliRunner().invoke(
        app, ["eval", "osworld", "check", str(tmp_path), "--meta", "test_all.json", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "metric:check_the_moon" in result.output and "draft.json" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "tasks=2 supported=1 supported_share=0.50 cache_missing=0 bad_files=1"
    )
    assert json.loads(out.read_text())["unsupported"] == {"vlc/two": ["metric:check_the_moon"]}


def test_doctor_names_the_evaluation_apps_that_are_missing(monkeypatch: Any) -> None:
    from aios import doctor

    monkeypatch.setattr(apps, "APP_BINARIES", {**apps.APP_BINARIES, "moon_app": "no-such-program-here"})
    check = doctor._evaluation_apps_check()
    assert not check.ok and not check.required
    assert "missing: " in check.detail and "moon_app" in check.detail.split("missing: ")[1]
    assert check.fix == "bash scripts/install.sh --osworld-apps"
