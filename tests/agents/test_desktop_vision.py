"""The desktop agent with a model that sees: screenshots reach it as images and it clicks what it saw; a
model that cannot see gets the text-only loop."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aios.agent_launch import spawn_agent
from aios.agents.desktop import DesktopAgent, latest_image_only, scale_note
from aios.evals.vision_stub import StubRequest, VisionStub, colour_centre
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.untrusted import IMAGE_OPEN
from aios.sdk import Message, user
from aios.tools.configs import GuiConfig
from aios.tools.gui import GuiDriver

from ..fakes import FakeEngine, until

MAGENTA = (255, 0, 255)
GREEN = (0, 200, 0)
PAD = """
import sys, tkinter
from pathlib import Path

clicks = Path(sys.argv[1])
root = tkinter.Tk()
root.title("pad")
root.geometry("240x160+1500+760")
pad = tkinter.Frame(root, bg="#ff00ff", width=240, height=160)
pad.pack(fill="both", expand=True)

def clicked(event):
    pad.configure(bg="#00c800")
    clicks.write_text(f"{event.x_root} {event.y_root}")

pad.bind("<Button-1>", clicked)
pad.wait_visibility()
root.update_idletasks()
Path(sys.argv[2]).touch()
root.mainloop()
"""
"""A magenta pad low on the right of a 1920x1080 screen that turns green when clicked and writes where."""


@pytest.fixture
async def screen(kernel: Kernel) -> AsyncIterator[GuiDriver]:
    driver = GuiDriver(GuiConfig(width=1920, height=1080))
    kernel.drivers["gui"] = driver
    await driver.open()
    yield driver
    await driver.close()


@pytest.fixture
async def pad(screen: GuiDriver, tmp_path: Path) -> AsyncIterator[Path]:
    """The pad on the screen; yields the file its click is written to."""
    clicks, ready = tmp_path / "clicks", tmp_path / "ready"
    assert screen.display_name is not None
    app = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PAD,
        str(clicks),
        str(ready),
        env={**os.environ, "DISPLAY": screen.display_name},
    )
    exited = asyncio.ensure_future(app.wait())
    await until(lambda: ready.exists() or exited.done(), "the pad to be shown")
    assert not exited.done(), f"the pad exited with code {app.returncode}"
    yield clicks
    app.kill()
    await exited


def tool_call(request: StubRequest, name: str, arguments: dict[str, int]) -> dict[str, Any]:
    """A reply calling one tool, its name as litellm's wire spells it (dots are not allowed there)."""
    function = {"name": name.replace(".", "__"), "arguments": json.dumps(arguments)}
    call_id = f"call_{len(request.body['messages'])}"
    return {"tool_calls": [{"id": call_id, "type": "function", "function": function}]}


def on_screen(request: StubRequest, point: tuple[int, int]) -> tuple[int, int]:
    """A point of the image as a point of the screen, from the scale the agent stated beside it."""
    scales = re.findall(r"scaled to (\d+)x(\d+) from (\d+)x(\d+)", request.text)
    if not scales:
        return point
    width, height, screen_width, screen_height = map(int, scales[-1])
    return round(point[0] * screen_width / width), round(point[1] * screen_height / height)


def eyes(request: StubRequest) -> dict[str, Any]:
    """A model that looks: a screenshot first, click the magenta pad, look again until it is green."""
    if not request.images:
        return tool_call(request, "gui.screenshot", {})
    shown = request.images[-1].pixels
    if colour_centre(shown, GREEN, tolerance=10) is not None:
        return {"content": "the pad turned green"}
    clicked = any(
        m["role"] == "tool" and "done: clicked" in str(m["content"]) for m in request.body["messages"]
    )
    pad = colour_centre(shown, MAGENTA, tolerance=10)
    if pad is None or clicked:
        return tool_call(request, "gui.screenshot", {})
    x, y = on_screen(request, pad)
    return tool_call(request, "gui.click", {"x": x, "y": y})


async def test_a_model_that_sees_clicks_what_the_screenshot_shows(
    kernel: Kernel, screen: GuiDriver, pad: Path
) -> None:
    with VisionStub(eyes) as stub:
        kernel.engines.models["eyes"] = RemoteModelConfig(
            model="openai/stub-vision", api_base=stub.api_base, api_key="sk-test", vision=True
        )
        pid = await spawn_agent(kernel, DesktopAgent, "Click the magenta pad.", model="eyes")
        record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "the pad turned green"
    first, clicking, *_, last = stub.received  # a screenshot, the click, a screenshot (or more), the answer
    assert not first.images and all(len(r.images) == 1 for r in stub.received[1:])
    [seen] = clicking.images
    [path] = re.findall(r"screenshot saved to (\S+) \(", clicking.text)
    assert seen.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()  # the file, intact
    assert IMAGE_OPEN in clicking.text  # fenced as untrusted
    assert seen.width < 1920 and f"scaled to {seen.width}x{seen.height} from 1920x1080" in clicking.text
    [click] = [c for m in last.body["messages"] for c in m.get("tool_calls") or [] if "click" in str(c)]
    arguments = json.loads(click["function"]["arguments"])
    assert pad.read_text() == f"{arguments['x']} {arguments['y']}"  # the pad got the stub's click
    [newest] = last.images  # only the screen as it is now: older screenshots are no longer sent
    assert newest.sha256 != seen.sha256
    kernel.store.flush()
    sources = [i["source"] for r in kernel.store.audit(pid=pid) for i in r.detail.get("images", [])]
    assert sources == ["path"] * (len(stub.received) - 1)


async def test_a_model_that_cannot_see_gets_the_text_only_loop(kernel: Kernel, screen: GuiDriver) -> None:
    engine = FakeEngine(calls=[("gui.screenshot", {}), ("gui.list_windows", {})], answer="nothing to see")
    kernel.engines.register("local", engine)
    record = await kernel.wait(await spawn_agent(kernel, DesktopAgent, "Look at the screen."))
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "nothing to see" and record.tool_calls == 2
    assert not [m for r in engine.requests for m in r.messages if m.images]
    observations = [m.text for m in engine.requests[-1].messages if m.role == "tool"]
    assert re.search(r"\nscreenshot saved to \S+ \(\d+x\d+", observations[0]), observations[0]
    kernel.store.flush()
    refused = [r.error for r in kernel.store.audit(pid=record.pid) if r.kind == "llm" and r.status != "ok"]
    assert len(refused) == 1 and "cannot read images" in (refused[0] or ""), refused  # tried once only


def test_the_scale_is_told_and_only_the_newest_screenshot_is_kept() -> None:
    shot = {"path": "/w/s.png", "width": 1280, "height": 720, "screen_width": 1920, "screen_height": 1080}
    assert scale_note(shot) == (
        "The screen now, scaled to 1280x720 from 1920x1080: the gui tools take screen pixels, "
        "so multiply x by 1.5 and y by 1.5."
    )
    assert "a point of this image is that point" in scale_note({"path": "/w/s.png", "width": 8, "height": 6})
    older, newer = user("then", "a.png"), user("now", "b.png")
    dialogue = [Message(role="user", content="task"), older, Message(role="user", content="x"), newer]
    assert latest_image_only(dialogue) == [dialogue[0], dialogue[2], newer]
