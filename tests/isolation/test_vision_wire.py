"""Images from an isolated agent: a file in its work folder crosses the agent's wire as a path and reaches
the model intact; a path outside the work folder reaches nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aios.agent_host import AgentHost, start_agent_host
from aios.agent_launch import spawn_agent
from aios.api.body_limit import MAX_BODY_BYTES
from aios.config import Settings
from aios.evals.vision_stub import VisionStub
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.images import SANDBOX_HOME
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.tools.gui import GuiDriver
from aios.tools.sandbox import find_bwrap
from tests.isolation.vision_probes import Looker, Trespasser

pytestmark = pytest.mark.skipif(
    find_bwrap() is None and not os.environ.get("CI"), reason="bubblewrap is not installed"
)


@pytest.fixture
def stub() -> Iterator[VisionStub]:
    with VisionStub() as server:
        yield server


@pytest.fixture
async def eyes(kernel: Kernel, stub: VisionStub) -> AsyncIterator[Kernel]:
    """The kernel with a model that sees (the stub) and a screen."""
    kernel.engines.models["eyes"] = RemoteModelConfig(
        model="openai/stub-vision", api_base=stub.api_base, api_key="sk-test", vision=True
    )
    driver = GuiDriver()
    kernel.drivers["gui"] = driver
    yield kernel
    await driver.close()


@pytest.fixture
async def host(eyes: Kernel, settings: Settings) -> AsyncIterator[AgentHost]:
    agent_host = await start_agent_host(eyes, settings.agents, data_dir=settings.data_dir)
    yield agent_host
    await agent_host.close()


@pytest.fixture
def wire(eyes: Kernel, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each syscall as it came off the agent's wire: the agent socket hands the kernel the parsed body."""
    bodies: list[dict[str, Any]] = []
    forward = eyes.syscall

    async def received(pid: int, request: Any) -> Any:
        if isinstance(request, dict):
            bodies.append(request)
        return await forward(pid, request)

    monkeypatch.setattr(eyes, "syscall", received)
    return bodies


def on_host(kernel: Kernel, pid: int, path: str) -> Path:
    """A path as the agent named it, as the kernel finds it."""
    if Path(path).is_relative_to(SANDBOX_HOME):
        return kernel.workdir(pid) / Path(path).relative_to(SANDBOX_HOME)
    return Path(path)


async def test_an_isolated_agents_images_travel_as_paths_and_arrive_intact(
    eyes: Kernel, host: AgentHost, stub: VisionStub, wire: list[dict[str, Any]]
) -> None:
    task = json.dumps({"model": "eyes"})
    record = await eyes.wait(await spawn_agent(eyes, Looker, task, host=host))
    assert record.state == ProcessState.DONE, record.error
    got = json.loads(record.result or "")
    files = [on_host(eyes, record.pid, p) for p in (got["shot"], f"{SANDBOX_HOME}/noise.png")]
    digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    [seen] = stub.received
    assert [i.sha256 for i in seen.images] == digests  # the screenshot and the picture, byte for byte
    assert got["answer"].startswith("saw 2 image(s): ")
    # the body the agent sent named the files; the noise alone is more than the agent socket takes in a body
    [llm] = [body for body in wire if body["kind"] == "llm"]
    parts = [p for m in llm["messages"] for p in m["content"] if p["type"] == "image_url"]
    assert [p["image_url"]["path"] for p in parts] == [got["shot"], f"{SANDBOX_HOME}/noise.png"]
    assert all(p["image_url"]["url"] is None for p in parts)
    assert len(json.dumps(llm)) < 4096 < MAX_BODY_BYTES < files[1].stat().st_size
    eyes.store.flush()
    [row] = [r for r in eyes.store.audit(pid=record.pid) if r.kind == "llm"]
    assert [(i["sha256"], i["source"]) for i in row.detail["images"]] == [(d, "path") for d in digests]


@pytest.fixture
def private_png(tmp_path: Path) -> Path:
    """A picture only its owner (root, where aios runs as root) may read: no link to it may be followed."""
    path = tmp_path / "private.png"
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    path.chmod(0o600)
    return path


async def test_an_isolated_agent_cannot_show_the_model_files_outside_its_work_folder(
    eyes: Kernel, host: AgentHost, stub: VisionStub, private_png: Path
) -> None:
    task = json.dumps({"model": "eyes", "private": str(private_png)})
    record = await eyes.wait(await spawn_agent(eyes, Trespasser, task, host=host))
    assert record.state == ProcessState.DONE, record.error
    refusals = json.loads(record.result or "")
    outside = "is not a file of the process's work folder"
    assert f"'/etc/passwd' {outside} (give a path inside it)" in refusals.pop("/etc/passwd")
    assert outside in refusals.pop("../noise.png") and outside in refusals.pop("/workspace/../etc/passwd")
    for path, refusal in refusals.items():  # links it planted, to a file and to a folder
        assert f"cannot read {path!r} in the work folder" in refusal, (path, refusal)
    assert not stub.received
