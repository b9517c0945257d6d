"""`aios bench vision` runs end to end on a few steps: a 1920x1080 display of text, an in-process and an
isolated agent, and the provider gets the real screen scaled as configured (figures are for the note, not
asserted)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.evals.bench_vision import WARM_STEPS, VisionBenchParams, run_vision_bench
from aios.evals.vision_stub import VisionStub
from aios.tools.screen_images import ScreenshotConfig

STEPS = 3


@pytest.fixture
def stub() -> Iterator[VisionStub]:
    with VisionStub() as server:
        yield server


@pytest.fixture
async def daemon(settings: Settings, tmp_path: Path) -> AsyncIterator[Daemon]:
    """A daemon with isolated agents (the default) whose gui driver owns a 1920x1080 Xvfb; no TCP port."""
    gui = settings.gui.model_copy(update={"width": 1920, "height": 1080})
    own = settings.model_copy(
        update={"gui": gui, "daemon": settings.daemon.model_copy(update={"port": None})}
    )
    running = await start_daemon(own, cwd=tmp_path, preload=False)
    yield running
    await running.close()


def dark_share(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """The share of pixels in `box` darker than mid-grey: the xterms' text on their white ground."""
    return float((np.asarray(image.convert("L").crop(box)) < 128).mean())


async def test_a_quick_run_shows_the_provider_the_scaled_screen_and_ends_with_the_line(
    daemon: Daemon, stub: VisionStub
) -> None:
    report = await run_vision_bench(daemon, stub, VisionBenchParams(steps=STEPS))
    line = r"observe_p50_ms=\d+\.\d request_bytes_p50=\d+ wire_overhead_ms=-?\d+\.\d\d"
    assert re.fullmatch(line, report.last_line()), report.last_line()
    config = ScreenshotConfig()
    scale = min(1.0, config.max_width / 1920, config.max_height / 1080)
    width, height = round(1920 * scale), round(1080 * scale)
    assert (report.display, report.image) == ("1920x1080", f"{width}x{height} {config.format}")
    images = [image for request in stub.received for image in request.images]
    assert len(stub.received) == len(images) == 2 * (WARM_STEPS + STEPS)  # one screenshot a step, both agents
    assert {(i.width, i.height, i.format) for i in images} == {(width, height, config.format)}
    # the four windows of text, one a quadrant (below its title bar), in every image either agent sent: dark
    # glyphs on white, neither a blank window nor the bare (dark) root window
    quadrants = [
        (x, y + 30, x + width // 2 - 10, y + height // 2 - 10)
        for x in (0, width // 2)
        for y in (0, height // 2)
    ]
    assert all(0.01 < dark_share(i.pixels, box) < 0.5 for i in images for box in quadrants)
    assert len(report.observe_ms) == len(report.inprocess_step_ms) == len(report.isolated_step_ms) == STEPS
    assert all(
        0 < seen < step for seen, step in zip(report.observe_ms, report.inprocess_step_ms, strict=True)
    )
    # each request carries its image base64-encoded (4 bytes for every 3) besides the prompt
    assert all(r > i * 4 / 3 for r, i in zip(report.request_bytes, report.image_bytes, strict=True))
    assert report.request_bytes_p50 == sorted(report.request_bytes)[STEPS // 2]
