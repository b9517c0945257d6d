"""The bundled `osworld` agent with screenshots, as a user runs it (`aios eval osworld --observation
screenshot`): a fresh task computer, the agent isolated in its own process, the kernel and litellm real;
only the provider is a stub, which decodes the screenshot it is sent and clicks the green button it finds."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.agents.osworld import in_shot_pixels, on_screen
from aios.evals.osworld.evaluation import SHIPPED
from aios.evals.osworld.task import Task, load_tasks
from aios.evals.vision_stub import StubRequest, VisionStub, colour_centre
from tests.cli_helpers import aios

GREEN = (30, 158, 60)
"""The task's Confirm button (#1e9e3c); it turns grey once pressed."""
CONFIRM = (1350, 1650)
"""Where the button spans across the screen (CSS left 1350px, width 300px: the page starts at x 0)."""


def click_the_green_button(request: StubRequest) -> dict[str, Any]:
    """A vision policy: CLICK the middle of the green it sees in the last image; once it has clicked and the
    green is gone, DONE; before that (the page not drawn yet), WAIT."""
    found = colour_centre(request.images[-1].pixels, GREEN) if request.images else None
    if found is not None:
        choice = {"action": "CLICK", "x": found[0], "y": found[1], "text": ""}
    else:  # the agent lists its last actions in the prompt
        clicked = '"action": "CLICK"' in request.text
        choice = {"action": "DONE" if clicked else "WAIT", "x": 0, "y": 0, "text": ""}
    return {"content": json.dumps(choice)}


@pytest.fixture
def stub() -> Iterator[VisionStub]:
    with VisionStub(click_the_green_button) as server:
        yield server


@pytest.fixture
def task() -> Task:
    [task] = [t for t in load_tasks(SHIPPED) if t.source == "aios-suite:green-button"]
    return task


def _config(tmp_path: Path, stub: VisionStub) -> Path:
    config = tmp_path / "models.toml"
    config.write_text(
        "default_model = 'eyes'\n\n"
        f"[models.eyes]\nkind = 'litellm'\nmodel = 'openai/stub-vision'\napi_base = '{stub.api_base}'\n"
        "api_key = 'sk-test'\nvision = true\n\n"
        f"[models.blind]\nkind = 'litellm'\nmodel = 'openai/stub-text'\napi_base = '{stub.api_base}'\n"
        "api_key = 'sk-test'\n"
    )
    return config


def _run(tmp_path: Path, env: dict[str, str], stub: VisionStub, task: Task, *options: str) -> Any:
    task_file = SHIPPED / task.domain / f"{task.id}.json"
    command = ["--config", str(_config(tmp_path, stub)), "eval", "osworld", str(task_file), "--agent"]
    return aios(*command, "osworld", "--results", "out", "--max-steps", "8", *options, env=env, cwd=tmp_path)


@pytest.mark.parametrize("observation", ["screenshot", "screenshot_a11y_tree"])
def test_the_agent_clicks_what_a_vision_model_finds_in_the_screenshot(
    tmp_path: Path, env: dict[str, str], stub: VisionStub, task: Task, observation: str
) -> None:
    options = ("--model", "eyes", "--observation", observation, "--screenshot-max-width", "1024")
    run = _run(tmp_path, env, stub, task, *options)
    assert run.returncode == 0, run.stderr
    last_line = run.stdout.splitlines()[-1]
    assert re.fullmatch(r"tasks=1 success=1\.00 env_setup_p50_s=\d+\.\d+", last_line), run.stdout

    sizes = [(i.width, i.height, i.format) for r in stub.received for i in r.images]
    assert sizes == [(1024, 576, "png")] * len(stub.received)  # one screenshot per step, as configured
    looks = [colour_centre(r.images[0].pixels, GREEN) for r in stub.received]
    step = next(n for n, found in enumerate(looks) if found is not None)  # the first it saw drawn
    seen, before = looks[step], stub.received[step]
    assert looks[step + 1 :] == [None]  # one click turned the button grey; then DONE
    [shot] = list((tmp_path / "data").rglob(f"screenshots/step-{step + 1}.png"))  # given to the agent
    assert hashlib.sha256(shot.read_bytes()).hexdigest() == before.images[0].sha256  # arrived intact
    schema = before.body["response_format"]["json_schema"]["schema"]["properties"]
    assert (schema["x"]["maximum"], schema["y"]["maximum"]) == (1023, 575)  # answers in the image's pixels

    folder = tmp_path / "out" / "pyautogui" / observation / "eyes" / task.domain / task.id
    steps = [json.loads(line) for line in (folder / "traj.jsonl").read_text().splitlines()]
    assert [s["action"] for s in steps[:step]] == ["WAIT"] * step and steps[-1]["action"] == "DONE"
    click = re.fullmatch(r"pyautogui\.click\((\d+), (\d+)\)", steps[step]["action"])
    assert click is not None and seen is not None, steps
    x, y = int(click[1]), int(click[2])
    assert (x, y) == (round(seen[0] * 1920 / 1024), round(seen[1] * 1080 / 576))  # back in screen pixels
    assert CONFIRM[0] < x < CONFIRM[1]  # where the button is on the 1920-wide screen, not in the screenshot

    if observation == "screenshot_a11y_tree":  # the table is in the screenshot's pixels too
        row = next(r for r in before.text.splitlines() if r.startswith("push-button\tConfirm"))
        left, top, width, height = map(int, re.findall(r"-?\d+", "".join(row.split("\t")[-2:])))
        assert left < seen[0] < left + width and top < seen[1] < top + height, row
    else:
        assert "push-button" not in before.text


def test_a_model_that_cannot_see_is_refused_with_what_to_do(
    tmp_path: Path, env: dict[str, str], stub: VisionStub, task: Task
) -> None:
    run = _run(tmp_path, env, stub, task, "--model", "blind", "--observation", "screenshot")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1].startswith("tasks=1 success=0.00")
    shown = " ".join(run.stdout.split())  # as one line, however the terminal wrapped it
    crashed = shown[shown.index("crashed (1 task): ") :]
    assert "--observation screenshot shows the model screenshots, but model 'openai/stub-text'" in crashed
    assert "cannot read images" in crashed and "Choose a vision model with --model" in crashed
    assert stub.received == []  # refused before anything left for the provider


def test_answers_about_the_screenshot_are_aimed_at_the_screen() -> None:
    shot = {"width": 1280, "height": 720, "screen_width": 1920, "screen_height": 1080}
    assert on_screen({"action": "CLICK", "x": 640, "y": 360, "text": ""}, shot) == {
        "action": "CLICK",
        "x": 960,
        "y": 540,
        "text": "",
    }
    # a provider that ignores the answer's schema still gets a point on the screen
    past = on_screen({"action": "CLICK", "x": 1300, "y": -5, "text": ""}, shot)
    assert (past["x"], past["y"]) == (1919, 0)
    header = "tag\tname\ttext\tposition (top-left x&y)\tsize (w&h)"
    table = f"{header}\npush-button\tOK (1, 2)\t\t(300, 150)\t(60, 30)"
    assert in_shot_pixels(table, shot).splitlines() == [
        header,
        "push-button\tOK (1, 2)\t\t(200, 100)\t(40, 20)",  # names and text stay as they are
    ]
