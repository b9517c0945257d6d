"""Screenshots an agent passes on: a 1920x1080 screen or page comes back scaled into the configured box, in
the configured format, saved where `path` says, with the screen's size to map a point back for a click."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest
from PIL import Image, ImageDraw
from Xlib import X
from Xlib import display as xdisplay

from aios.evals.vision_stub import StubRequest, VisionStub, colour_centre
from aios.kernel.drivers import CallContext
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.kernel import Kernel
from aios.kernel.records import ProcessState
from aios.kernel.syscalls import ImagePart, LLMSyscall, TextPart, ToolSyscall
from aios.sdk import user
from aios.tools.browser import BrowserConfig, BrowserDriver
from aios.tools.browser_args import OpenArgs
from aios.tools.browser_args import ScreenshotArgs as PageShotArgs
from aios.tools.gui import ClickArgs, GuiConfig, GuiDriver, ScreenshotArgs
from aios.tools.screen_images import EncodedShot, ScreenshotConfig, encode_png, fitted_size

from .test_browser import site  # noqa: F401  (the fixture: a test site on 127.0.0.1)
from .test_gui import Recorder

WHITE = (255, 255, 255)
BLUE = (48, 96, 192)


class Picture:
    """A window whose background is a picture, so it stays drawn on a display without a window manager."""

    def __init__(self, display_name: str, picture: Image.Image, *, x: int, y: int) -> None:
        self.conn = xdisplay.Display(display_name)
        screen = self.conn.screen()
        width, height = picture.size
        pixmap = screen.root.create_pixmap(width, height, screen.root_depth)
        pixmap.put_pil_image(pixmap.create_gc(), 0, 0, picture)
        self.window = screen.root.create_window(
            x,
            y,
            width,
            height,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixmap=pixmap,
        )
        self.window.map()
        self.conn.sync()

    def close(self) -> None:
        self.window.destroy()
        self.conn.close()


def busy_picture(width: int, height: int) -> Image.Image:
    """Gradients and lines of small text: what compresses like a real desktop, not like a flat colour."""
    shades = Image.linear_gradient("L").point(lambda v: v * 5 // 8)  # never near the windows' white
    picture = shades.resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for row in range(0, height, 14):
        draw.text(
            (4, row), f"line {row}: the quick brown fox jumps over the lazy dog " * 3, fill=(20, 20, 20)
        )
    return picture


def placed(recorder: Recorder, *, x: int, y: int, pixel: int | None = None) -> Recorder:
    """Move the window (no window manager places it) and give it a colour other than white."""
    if pixel is not None:
        recorder.window.change_attributes(background_pixel=pixel)
    recorder.window.configure(x=x, y=y)
    recorder.window.clear_area()
    recorder.conn.sync()
    return recorder


def to_screen(shot: dict[str, Any], x: int, y: int) -> tuple[int, int]:
    """What an agent does with the output, as the operation's description tells it."""
    return round(x * shot["screen_width"] / shot["width"]), round(y * shot["screen_height"] / shot["height"])


def opened(shot: dict[str, Any]) -> Image.Image:
    data = Path(shot["path"]).read_bytes()
    assert len(data) == shot["bytes"]
    image = Image.open(io.BytesIO(data))
    assert image.size == (shot["width"], shot["height"])
    return image


@pytest.fixture
def ctx(tmp_path: Path) -> CallContext:
    work = tmp_path / "work"
    work.mkdir()
    return CallContext(pid=1, workdir=work)


@pytest.fixture
async def screen() -> AsyncIterator[tuple[GuiDriver, Recorder, Recorder]]:
    """A 1920x1080 display without a window manager: a white window, a blue one and a busy picture."""
    gui = GuiDriver(GuiConfig(width=1920, height=1080, window_manager=None))
    await gui.open()
    name = gui.display_name
    assert name is not None
    white = placed(Recorder(name, "white"), x=900, y=600)
    blue = placed(Recorder(name, "blue", width=240, height=120), x=60, y=30, pixel=0x3060C0)
    picture = Picture(name, busy_picture(700, 400), x=1100, y=100)
    try:
        yield gui, white, blue
    finally:
        for window in (white, blue, picture):
            window.close()
        await gui.close()


def test_sizes_fit_the_box_keep_proportions_and_map_back() -> None:
    box = ScreenshotConfig()
    assert fitted_size(1920, 1080, box) == (1280, 720)
    assert fitted_size(1280, 800, box) == (1280, 800)  # already fits: untouched
    assert fitted_size(800, 600, box) == (800, 600)  # never scaled up
    assert fitted_size(640, 2000, box) == (256, 800)
    assert fitted_size(1920, 6000, box, fit_height=False) == (1280, 4000)  # a long page keeps its length
    shot = EncodedShot(data=b"", width=1280, height=720, format="png", screen_width=1920, screen_height=1080)
    assert shot.to_screen(640, 360) == (960, 540) and shot.to_screen(1279, 719) == (1918, 1078)
    assert shot.suffix == ".png" and shot.mime == "image/png"


def test_a_png_that_fits_is_kept_as_it_is_and_one_that_does_not_is_scaled() -> None:
    buffer = io.BytesIO()
    busy_picture(1280, 800).save(buffer, "PNG", compress_level=9)
    png = buffer.getvalue()
    kept = encode_png(png, ScreenshotConfig())
    assert kept.data is png and (kept.width, kept.height) == (1280, 800)
    small = encode_png(png, ScreenshotConfig(max_width=640, format="webp", quality=50))
    assert (small.width, small.height, small.screen_width) == (640, 400, 1280)
    assert Image.open(io.BytesIO(small.data)).format == "WEBP"


async def test_a_1920x1080_screen_comes_back_in_the_box_and_its_points_map_back(
    screen: tuple[GuiDriver, Recorder, Recorder], ctx: CallContext
) -> None:
    gui, white, blue = screen
    shot = await gui.call("screenshot", ScreenshotArgs(), ctx)
    assert (shot["width"], shot["height"], shot["screen_width"], shot["screen_height"]) == (
        1280,
        720,
        1920,
        1080,
    )
    assert shot["format"] == "png" and Path(shot["path"]).parent == ctx.workdir
    assert Path(shot["path"]).suffix == ".png"
    image = opened(shot)
    assert image.format == "PNG"
    # window, its colour, where it is on the screen (left, top) and the middle of it in its own pixels
    for window, colour, (left, top), (middle_x, middle_y) in (
        (white, WHITE, (900, 600), (150, 100)),
        (blue, BLUE, (60, 30), (120, 60)),
    ):
        seen = colour_centre(image, colour, tolerance=8)
        assert seen is not None
        x, y = to_screen(shot, *seen)
        assert abs(x - left - middle_x) <= 3 and abs(y - top - middle_y) <= 3, (seen, x, y)
        await gui.call("click", ClickArgs(x=x, y=y), ctx)
        [press] = [e for e in await window.events_until(X.ButtonPress, 1) if e.type == X.ButtonPress]
        assert abs(press.event_x - middle_x) <= 3 and abs(press.event_y - middle_y) <= 3

    full = await gui.call("screenshot", ScreenshotArgs(full_size=True), ctx)
    assert (full["width"], full["height"]) == (1920, 1080) and full["path"] != shot["path"]
    assert opened(full).getpixel((900, 600)) == WHITE  # the window's own corner, unscaled


@pytest.mark.parametrize(
    ("kind", "suffix", "pillow_format"), [("jpeg", ".jpg", "JPEG"), ("webp", ".webp", "WEBP")]
)
async def test_format_and_quality_are_honoured(
    screen: tuple[GuiDriver, Recorder, Recorder],
    ctx: CallContext,
    kind: Literal["jpeg", "webp"],
    suffix: str,
    pillow_format: str,
) -> None:
    display = screen[0].display_name
    sizes = []
    for quality in (20, 90):
        config = ScreenshotConfig(max_width=960, max_height=960, format=kind, quality=quality)
        gui = GuiDriver(GuiConfig(display=display, screenshot=config))  # the same screen, other settings
        try:
            shot = await gui.call("screenshot", ScreenshotArgs(), ctx)
        finally:
            await gui.close()
        assert shot["format"] == kind and Path(shot["path"]).suffix == suffix
        assert (shot["width"], shot["height"]) == (960, 540)
        image = opened(shot)
        assert image.format == pillow_format
        centre = colour_centre(image, WHITE, tolerance=24)
        assert centre is not None and abs(centre[0] - 525) <= 3 and abs(centre[1] - 350) <= 3
        sizes.append(shot["bytes"])
    assert sizes[0] < sizes[1] * 0.8, sizes


async def test_an_agent_shows_a_screenshot_in_one_line_and_clicks_where_the_model_points(
    kernel: Kernel, screen: tuple[GuiDriver, Recorder, Recorder]
) -> None:
    gui, _, blue = screen
    kernel.drivers["gui"] = gui

    def point_at_blue(request: StubRequest) -> dict[str, Any]:
        [seen] = request.images
        return {"content": json.dumps(colour_centre(seen.pixels, BLUE, tolerance=8))}

    async def program(pid: int) -> str:
        shot = (await kernel.syscall(pid, ToolSyscall(name="gui.screenshot", arguments={}))).output  # type: ignore[union-attr]
        message = user("Where is the blue window?", shot)
        assert isinstance(message.content, tuple)
        text, picture = message.content
        assert text == TextPart(text="Where is the blue window?") and isinstance(picture, ImagePart)
        assert picture.image_url.path == shot["path"]
        answer = await kernel.syscall(pid, LLMSyscall(messages=(message,), model="eyes", max_tokens=16))
        x, y = to_screen(shot, *json.loads(answer.content))  # type: ignore[union-attr]
        await kernel.syscall(pid, ToolSyscall(name="gui.click", arguments={"x": x, "y": y}))
        return hashlib.sha256(Path(shot["path"]).read_bytes()).hexdigest()

    with VisionStub(point_at_blue) as stub:
        kernel.engines.models["eyes"] = RemoteModelConfig(
            model="openai/stub-vision", api_base=stub.api_base, api_key="sk-test", vision=True
        )
        pid = await kernel.spawn(program, agent="seer", task="click blue", capabilities=["llm", "gui.*"])
        record = await kernel.wait(pid)
    assert record.state == ProcessState.DONE, record.error
    [request] = stub.received
    [seen] = request.images
    assert (seen.width, seen.height, seen.format, seen.sha256) == (1280, 720, "png", record.result)
    [press] = [e for e in await blue.events_until(X.ButtonPress, 1) if e.type == X.ButtonPress]
    assert abs(press.event_x - 120) <= 3 and abs(press.event_y - 60) <= 3


async def test_a_page_comes_back_in_the_box_and_a_full_page_keeps_its_length(
    site: str,  # noqa: F811
    ctx: CallContext,
) -> None:
    driver = BrowserDriver(BrowserConfig(viewport_width=1920, viewport_height=1080))
    try:
        await driver.call("open", OpenArgs(url=f"{site}/"), ctx)
        shot = await driver.call("screenshot", PageShotArgs(), ctx)
        assert (shot["width"], shot["height"], shot["screen_width"], shot["screen_height"]) == (
            1280,
            720,
            1920,
            1080,
        )
        assert shot["title"] == "Home" and shot["format"] == "png"
        assert Path(shot["path"]).parent == ctx.workdir / "screenshots" and opened(shot).format == "PNG"
        long = await driver.call("screenshot", PageShotArgs(full_page=True), ctx)
        assert long["width"] == 1280 and long["screen_width"] == 1920 and long["screen_height"] > 3000
        assert long["height"] == round(long["screen_height"] * 1280 / 1920)
        assert opened(long).size == (1280, long["height"])
        full = await driver.call("screenshot", PageShotArgs(full_size=True), ctx)
        assert (full["width"], full["height"]) == (1920, 1080) and opened(full).format == "PNG"
    finally:
        await driver.close()

    config = ScreenshotConfig(format="jpeg", quality=60)
    driver = BrowserDriver(BrowserConfig(screenshot=config))
    try:
        await driver.call("open", OpenArgs(url=f"{site}/"), ctx)
        shot = await driver.call("screenshot", PageShotArgs(), ctx)
    finally:
        await driver.close()
    assert (shot["width"], shot["height"], shot["format"]) == (1280, 800, "jpeg")
    assert Path(shot["path"]).suffix == ".jpg" and opened(shot).format == "JPEG"
