"""Images in LLM syscalls: a work-folder file or a data: URL reaches a vision provider intact, within the
limits, fenced as untrusted, and the audit keeps its hash, size and dimensions but never its bytes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from aios.evals.vision_stub import IMAGE_TOKENS, VisionStub
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.errors import InvalidSyscall
from aios.kernel.images import SANDBOX_HOME, ImageLimits
from aios.kernel.kernel import Kernel
from aios.kernel.syscalls import ImagePart, ImageSource, LLMSyscall, Message
from aios.kernel.untrusted import IMAGE_CLOSE, IMAGE_OPEN
from aios.sdk import image, user
from aios.tools.sandbox import SANDBOX_HOME as TOOLS_SANDBOX_HOME


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def stub() -> Iterator[VisionStub]:
    with VisionStub() as server:
        yield server


@pytest.fixture
def eyes(kernel: Kernel, stub: VisionStub) -> Kernel:
    kernel.engines.models["eyes"] = RemoteModelConfig(
        model="openai/stub-vision", api_base=stub.api_base, api_key="sk-test", vision=True
    )
    kernel.engines.models["blind"] = RemoteModelConfig(
        model="openai/stub-text", api_base=stub.api_base, api_key="sk-test"
    )
    return kernel


async def ask(kernel: Kernel, *messages: Message, model: str = "eyes") -> tuple[str, str | None, int]:
    """Spawn a process that makes one llm call; its result (or error) and its pid."""

    async def program(pid: int) -> str:
        result = await kernel.syscall(pid, LLMSyscall(messages=messages, model=model, max_tokens=8))
        return result.content  # type: ignore[union-attr]

    pid = await kernel.spawn(program, agent="eyes", task="look", capabilities=["llm"])
    record = await kernel.wait(pid)
    return record.result or "", record.error, pid


def audit_details(kernel: Kernel, pid: int) -> list[dict]:
    kernel.store.flush()
    return [row.detail for row in kernel.store.audit(pid=pid) if row.kind == "llm"]


async def test_a_work_folder_image_reaches_the_provider_intact_and_the_audit_keeps_no_bytes(
    eyes: Kernel, stub: VisionStub
) -> None:
    data = png(320, 200)
    workdir = eyes.workdir(1)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "shots").mkdir()
    (workdir / "shots" / "screen.png").write_bytes(data)
    answer, error, pid = await ask(eyes, user("What is on screen?", "shots/screen.png"))
    assert pid == 1 and error is None, error
    digest = hashlib.sha256(data).hexdigest()
    assert answer == f"saw 1 image(s): 320x200 png sha256={digest}"
    [seen] = stub.received
    assert IMAGE_OPEN in seen.text and IMAGE_CLOSE in seen.text  # fenced as untrusted
    assert eyes.process(pid).tokens_in == len(seen.text) // 4 + IMAGE_TOKENS  # as the provider counted
    [detail] = audit_details(eyes, pid)
    assert detail["images"] == [
        {"sha256": digest, "bytes": len(data), "width": 320, "height": 200, "format": "png", "source": "path"}
    ]
    rows = json.dumps([row.model_dump(mode="json") for row in eyes.store.audit(pid=pid)])
    assert base64.b64encode(data).decode()[:40] not in rows


async def test_an_inline_image_and_the_paths_an_agent_or_a_driver_sees_are_read(
    eyes: Kernel, stub: VisionStub
) -> None:
    first, second, third = png(10, 10), png(20, 10, (0, 0, 255)), png(30, 10, (0, 255, 0))
    workdir = eyes.workdir(1)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "a.png").write_bytes(second)
    (workdir / "b.png").write_bytes(third)
    message = user("three", first, f"{SANDBOX_HOME}/a.png", {"path": str(workdir / "b.png")})
    _, error, _ = await ask(eyes, message)
    assert error is None, error
    assert [(i.width, i.sha256) for i in stub.received[0].images] == [
        (10, hashlib.sha256(first).hexdigest()),
        (20, hashlib.sha256(second).hexdigest()),
        (30, hashlib.sha256(third).hexdigest()),
    ]
    assert str(SANDBOX_HOME) == TOOLS_SANDBOX_HOME


@pytest.mark.parametrize(
    ("plant", "name", "reason"),
    [
        ("link", "secret.png", "cannot read"),
        ("hardlink", "twin.png", "hard link"),
        (None, "../../x.png", "not a file of the process's work folder"),
        (None, "/etc/passwd", "not a file of the process's work folder"),
        (None, "missing.png", "cannot read"),
        ("folder-link", "up/x.png", "cannot read"),
    ],
)
async def test_a_path_cannot_reach_outside_the_work_folder(
    eyes: Kernel, stub: VisionStub, tmp_path: Path, plant: str | None, name: str, reason: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.png").write_bytes(png())
    workdir = eyes.workdir(1)
    workdir.mkdir(parents=True, exist_ok=True)
    if plant == "link":
        (workdir / name).symlink_to(outside / "x.png")
    elif plant == "hardlink":
        os.link(outside / "x.png", workdir / name)
    elif plant == "folder-link":
        (workdir / "up").symlink_to(outside)
    _, error, _ = await ask(eyes, user("look", name))
    assert error is not None and reason in error, error
    assert not stub.received


def inline(data: bytes, mime: str = "image/png") -> Message:
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return Message(role="user", content=(ImagePart(image_url=ImageSource(url=url)),))


def noise(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("L", (side, side), os.urandom(side * side)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_limits_format_and_blind_models_are_clear_errors(eyes: Kernel, stub: VisionStub) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    cases = {
        "is not a PNG, JPEG or WebP image": inline(gif.getvalue(), "image/gif"),
        "not valid base64": Message(
            role="user", content=(ImagePart(image_url=ImageSource(url="data:image/png;base64,!!")),)
        ),
        "must be base64": Message(
            role="user", content=(ImagePart(image_url=ImageSource(url="data:image/png,abc")),)
        ),
        "17 images in one llm call; at most 16": user("many", *[png(4, 4)] * 17),
    }
    for expected, message in cases.items():
        _, error, _ = await ask(eyes, message)
        assert error is not None and expected in error, (expected, error)
    _, error, _ = await ask(eyes, user("look", png()), model="blind")
    assert error is not None and "'openai/stub-text' (blind) cannot read images" in error
    assert "vision = true" in error
    assert not stub.received
    _, error, _ = await ask(eyes, inline(png()))
    assert error is None and len(stub.received) == 1


async def test_byte_and_pixel_limits(eyes: Kernel, stub: VisionStub) -> None:
    eyes.router.llm.image_limits = ImageLimits(max_image_bytes=2048, max_call_bytes=4096, max_pixels=10_000)
    cases = {
        "over 10000 pixels": user("big canvas", png(400, 400)),  # a flat colour: small file, big canvas
        "over 2048 bytes": user("big file", noise(64)),
        "exceed 4096 bytes": user("five", *[noise(30) for _ in range(5)]),
    }
    for expected, message in cases.items():
        _, error, _ = await ask(eyes, message)
        assert error is not None and expected in error, (expected, error)
    assert not stub.received


def test_the_contract_refuses_remote_urls_and_images_outside_user_messages() -> None:
    with pytest.raises(ValidationError, match="fetches no remote image"):
        ImageSource(url="https://example.com/cat.png")
    with pytest.raises(ValidationError, match="either url"):
        ImageSource()
    with pytest.raises(ValidationError, match="images go in user messages"):
        Message(role="system", content=user("x", b"\x89PNG\r\n\x1a\n").content)
    with pytest.raises(InvalidSyscall, match="PNG, JPEG or WebP"):
        image(b"GIF89a")


async def test_the_embedded_model_refuses_images_clearly(model_kernel: Kernel) -> None:
    _, error, _ = await ask(model_kernel, user("look", png()), model="local")
    assert error is not None and "cannot read images: the embedded engine runs a text-only model" in error
