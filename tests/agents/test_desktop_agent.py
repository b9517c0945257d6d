"""The desktop agent: its loop over the real gui driver, scripted and on the embedded model."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aios.agent_launch import spawn_agent
from aios.agents.desktop import DesktopAgent, format_gui_observation
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.gui import GuiDriver

from ..fakes import FakeEngine, until


async def with_gui(kernel: Kernel) -> AsyncIterator[GuiDriver]:
    driver = GuiDriver()
    kernel.drivers["gui"] = driver
    yield driver
    await driver.close()


@pytest.fixture
async def gui(kernel: Kernel) -> AsyncIterator[GuiDriver]:
    async for driver in with_gui(kernel):
        yield driver


@pytest.fixture
async def model_gui(model_kernel: Kernel) -> AsyncIterator[GuiDriver]:
    async for driver in with_gui(model_kernel):
        yield driver


def test_the_manifest_grants_the_gui_and_nothing_else() -> None:
    assert DesktopAgent.manifest.name == "desktop"
    assert DesktopAgent.manifest.capabilities == ("llm", "gui.*")


def test_observations_are_short_sentences() -> None:
    window = {"id": 7, "title": "xterm", "x": 1, "y": 2, "width": 300, "height": 200, "focused": True}
    assert format_gui_observation({"windows": []}) == "no windows are open"
    assert format_gui_observation({"windows": [window]}) == "window 7 'xterm' at 1,2 size 300x200 (focused)"
    shot = {"path": "/w/s.png", "width": 1280, "height": 800}
    assert format_gui_observation(shot) == "screenshot saved to /w/s.png (1280x800)"
    assert "no window yet" in format_gui_observation({"app": "xterm", "pid": 5, "window": None})
    assert format_gui_observation({"typed_chars": 3}) == "done: typed_chars 3"


async def test_a_scripted_run_drives_the_real_screen(kernel: Kernel, gui: GuiDriver) -> None:
    written: list[Path] = []

    async def until_written() -> None:
        await until(lambda: bool(written and written[0].exists() and written[0].read_text()), "the file")

    engine = FakeEngine(
        calls=[
            ("gui.launch", {"app": "xterm"}),
            ("gui.focus_window", {"window": "xterm"}),
            ("gui.type", {"text": "echo desktop > /workspace/done.txt\n"}),
        ],
        answer="the terminal is open",
        settle=until_written,
    )
    kernel.engines.register("local", engine)
    pid = await spawn_agent(kernel, DesktopAgent, "open a terminal and write a file")
    written.append(kernel.workdir(pid) / "done.txt")
    record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    assert record.result == "the terminal is open" and record.tool_calls == 3
    # the kernel fences each observation as untrusted data; inside is the agent's text
    observations = [m.content for m in engine.requests[-1].messages if m.role == "tool"]
    started = re.search(r"\nstarted xterm \(pid (\d+)\); window \d+ 'xterm' at ", observations[0])
    assert started is not None, observations[0]
    assert "\nfocused window " in observations[1] and "\ndone: typed_chars 35\n" in observations[2]
    assert written[0].read_text() == "desktop\n"
    # the kernel releases the process's xterm just after it ends
    await until(lambda: not Path(f"/proc/{started[1]}").exists(), "the xterm to be gone")


@pytest.mark.model
async def test_desktop_on_the_embedded_model_calls_the_gui(
    model_kernel: Kernel, model_gui: GuiDriver
) -> None:
    pid = await spawn_agent(model_kernel, DesktopAgent, "Open a terminal window, then list the open windows.")
    record = await asyncio.wait_for(model_kernel.wait(pid), timeout=300)
    assert record.state == ProcessState.DONE, record.error
    await asyncio.to_thread(model_kernel.store.flush)
    tools = [r for r in model_kernel.store.audit(pid=pid) if r.kind == "tool"]
    assert tools, "the model never called a tool"
    assert all(r.target.startswith("gui.") for r in tools), tools
    # schema-valid calls pass the kernel's argument check; the driver answered them (ok or its own error)
    reached = [r for r in tools if r.status == "ok" or (r.error or "").startswith("gui.")]
    assert reached, [(r.target, r.status, r.error) for r in tools]
