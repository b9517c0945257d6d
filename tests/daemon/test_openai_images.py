"""Images through the OpenAI-compatible endpoint, sent by the official `openai` client: a data: URL reaches
a vision provider (a stub on 127.0.0.1 that decodes it) byte for byte, between its text, streamed or not;
what the endpoint or the model cannot take is refused in OpenAI's error shape before reaching a provider."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from PIL import Image

from aios.config import Settings
from aios.daemon import Daemon
from aios.evals.vision_stub import IMAGE_TOKENS, VisionStub
from aios.kernel.engines.configs import RemoteModelConfig
from aios.kernel.images import ImageLimits
from aios.kernel.untrusted import IMAGE_CLOSE, IMAGE_OPEN
from tests.daemon.conftest import user_token
from tests.daemon.test_openai_endpoint import asgi_openai, audit, openai_client

MAX_IMAGE_BYTES = 96 * 1024
MAX_IMAGES = 3


def encoded(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


def picture(kind: str = "PNG", colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return encoded(Image.new("RGB", (64, 48), colour), kind)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(data: bytes, mime: str = "image/png", **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(data, mime), **extra}}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def daemon_settings(daemon_settings: Settings) -> Settings:
    """Small image limits, so an image over them still fits the daemon's request body limit."""
    limits = ImageLimits(max_image_bytes=MAX_IMAGE_BYTES, max_images=MAX_IMAGES)
    return daemon_settings.model_copy(update={"images": limits})


@pytest.fixture
def stub() -> Iterator[VisionStub]:
    with VisionStub() as server:
        yield server


@pytest.fixture
def seeing(fake_daemon: Daemon, stub: VisionStub) -> Daemon:
    """The fake daemon with two litellm models on the stub: `eyes` reads images, `blind` (unknown to
    litellm's list, no `vision` set) does not."""
    models = fake_daemon.kernel.engines.models
    models["eyes"] = RemoteModelConfig(
        model="openai/stub-vision", api_base=stub.api_base, api_key="sk-test", vision=True
    )
    models["blind"] = RemoteModelConfig(model="openai/stub-text", api_base=stub.api_base, api_key="sk-test")
    return fake_daemon


def user_parts(request_body: dict[str, Any]) -> list[tuple[str, str]]:
    """The user message's parts as the provider got them: ("text", words) or ("image", sha256)."""
    [message] = [m for m in request_body["messages"] if m["role"] == "user"]
    parts = []
    for part in message["content"]:
        if part["type"] == "text":
            parts.append(("text", part["text"]))
        else:
            payload = part["image_url"]["url"].partition(",")[2]
            parts.append(("image", sha256(base64.b64decode(payload))))
    return parts


async def test_images_reach_the_model_intact_between_their_text_and_the_audit_keeps_no_bytes(
    seeing: Daemon, stub: VisionStub
) -> None:
    red, blue = picture(), picture("JPEG", (20, 40, 220))
    alice = user_token(seeing, "alice")
    content = [
        text("Compare the first picture"),
        image_part(red, detail="low"),
        text("with the second:"),
        {"type": "image_url", "image_url": data_url(blue, "image/jpeg")},  # the URL alone, as some send it
        text("Which is redder?"),
    ]
    messages: Any = [
        {"role": "system", "content": "You compare pictures."},
        {"role": "user", "content": content},
    ]
    async with asgi_openai(seeing, alice) as llm:
        raw = await llm.chat.completions.with_raw_response.create(
            model="eyes", messages=messages, max_tokens=16
        )
    answer = raw.parse()
    assert answer.model == "eyes" and answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == (
        f"saw 2 image(s): 64x48 png sha256={sha256(red)}, 64x48 jpeg sha256={sha256(blue)}"
    )
    assert answer.usage is not None and answer.usage.prompt_tokens >= 2 * IMAGE_TOKENS
    [sent] = stub.received
    assert [i.sha256 for i in sent.images] == [sha256(red), sha256(blue)]
    assert user_parts(sent.body) == [
        ("text", "Compare the first picture"),
        ("text", IMAGE_OPEN),
        ("image", sha256(red)),
        ("text", IMAGE_CLOSE),
        ("text", "with the second:"),
        ("text", IMAGE_OPEN),
        ("image", sha256(blue)),
        ("text", IMAGE_CLOSE),
        ("text", "Which is redder?"),
    ]
    [user_message] = [m for m in sent.body["messages"] if m["role"] == "user"]
    assert user_message["content"][2]["image_url"].get("detail") == "low"
    [row] = await audit(seeing, alice, int(raw.headers["x-aios-pid"]))
    assert [(i["sha256"], i["bytes"], i["format"]) for i in row.detail["images"]] == [
        (sha256(red), len(red), "png"),
        (sha256(blue), len(blue), "jpeg"),
    ]
    stored = row.model_dump_json()
    assert base64.b64encode(red).decode()[:40] not in stored
    assert base64.b64encode(blue).decode()[:40] not in stored


async def test_a_streamed_answer_about_an_image_arrives_over_http(seeing: Daemon, stub: VisionStub) -> None:
    shot = picture(colour=(10, 200, 10))
    messages: Any = [{"role": "user", "content": [text("What is this?"), image_part(shot)]}]
    async with openai_client(seeing, user_token(seeing, "alice")) as llm:
        chunks = [
            chunk
            async for chunk in await llm.chat.completions.create(
                model="eyes",
                messages=messages,
                max_tokens=16,
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
        with pytest.raises(openai.BadRequestError, match="cannot read images"):  # refused before streaming
            await llm.chat.completions.create(model="blind", messages=messages, max_tokens=16, stream=True)
    said = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert said == f"saw 1 image(s): 64x48 png sha256={sha256(shot)}"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens >= IMAGE_TOKENS
    [sent] = stub.received
    assert [i.sha256 for i in sent.images] == [sha256(shot)]


def noise(side: int) -> bytes:
    """A PNG that does not compress: random pixels, about 3 bytes each."""
    return encoded(Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)), "PNG")


REMOTE: Any = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
IN_WORK_FOLDER: Any = {"type": "image_url", "image_url": {"path": "screen.png"}}
AUDIO: Any = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
REFUSALS = [
    pytest.param(
        "eyes",
        [text("Look:"), REMOTE],
        "messages[0].content[1].image_url.url",
        "fetches no remote images; send the image inline as a data: URL",
        id="remote-url",
    ),
    pytest.param(
        "eyes",
        [text("Look:"), IN_WORK_FOLDER],
        "messages[0].content[1].image_url.path",
        "an API client has none: send the image inline as a data: URL",
        id="path",
    ),
    pytest.param(
        "eyes", [image_part(picture("GIF"), "image/gif")], None, "is not a PNG, JPEG or WebP image", id="gif"
    ),
    pytest.param(
        "eyes", [image_part(noise(200))], None, f"image 1 is over {MAX_IMAGE_BYTES} bytes", id="too-big"
    ),
    pytest.param(
        "eyes",
        [image_part(picture()) for _ in range(MAX_IMAGES + 1)],
        None,
        f"{MAX_IMAGES + 1} images in one llm call; at most {MAX_IMAGES} are allowed",
        id="too-many",
    ),
    pytest.param("eyes", [AUDIO], "messages[0].content", "'input_audio' parts are not supported", id="audio"),
    pytest.param(
        "blind",
        [text("Look:"), image_part(picture())],
        None,
        "cannot read images: litellm does not list it as a vision model (if it is one, set vision = true",
        id="blind-model",
    ),
    pytest.param(
        "local", [text("Look:"), image_part(picture())], None, "(local) cannot read images", id="text-engine"
    ),
]


@pytest.mark.parametrize(("model", "content", "param", "problem"), REFUSALS)
async def test_what_the_endpoint_or_the_model_cannot_take_is_refused_in_openais_shape(
    seeing: Daemon, stub: VisionStub, model: str, content: Any, param: str | None, problem: str
) -> None:
    async with asgi_openai(seeing, user_token(seeing, "alice")) as llm:
        with pytest.raises(openai.BadRequestError) as raised:
            await llm.chat.completions.create(
                model=model, messages=[{"role": "user", "content": content}], max_tokens=8
            )
    error = raised.value
    assert error.status_code == 400 and problem in error.message, error.message
    assert isinstance(error.body, dict) and error.body["type"] == "invalid_request_error"
    if param is not None:
        assert error.param == param
    assert stub.received == []  # nothing reached a provider


async def test_an_image_outside_a_user_message_is_refused_naming_it(seeing: Daemon, stub: VisionStub) -> None:
    messages: Any = [
        {"role": "system", "content": [text("Remember this:"), image_part(picture())]},
        {"role": "user", "content": "What did I show you?"},
    ]
    async with asgi_openai(seeing, user_token(seeing, "alice")) as llm:
        with pytest.raises(openai.BadRequestError) as raised:
            await llm.chat.completions.create(model="eyes", messages=messages, max_tokens=8)
    assert raised.value.param == "messages[0].content[1]"
    assert "images go in user messages only, not in system messages" in raised.value.message
    assert stub.received == []


@pytest.mark.model
async def test_the_embedded_model_refuses_an_image_clearly(daemon: Daemon) -> None:
    messages: Any = [{"role": "user", "content": [text("Look:"), image_part(picture())]}]
    async with openai_client(daemon, user_token(daemon, "alice")) as llm:
        with pytest.raises(openai.BadRequestError) as raised:
            await llm.chat.completions.create(model="local", messages=messages, max_tokens=8)
    reason = daemon.kernel.engines.get("local").cannot_see()
    assert reason is not None and raised.value.status_code == 400
    assert f"(local) cannot read images: {reason}" in raised.value.message
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == "invalid_request_error"
