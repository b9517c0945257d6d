"""A stand-in for an OpenAI-compatible vision provider on 127.0.0.1: it decodes every image it receives and
answers from what it saw, so tests and `aios bench vision` check real pixels end to end without a model.

It is a test double for the provider only: what reaches it went through the real SDK, wire, kernel and
litellm. `answer` decides the reply; `colour_centre` is what a stub policy uses to "find a button".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

IMAGE_TOKENS = 765
"""Prompt tokens the stub bills per image (OpenAI's count for a 1080p screenshot at high detail)."""


@dataclass
class SeenImage:
    sha256: str
    bytes: int
    width: int
    height: int
    format: str
    pixels: Image.Image


@dataclass
class StubRequest:
    """One chat completion request as the stub received it."""

    body: dict[str, Any]
    body_bytes: int
    received_at: float
    """`time.perf_counter()` when the body was read."""
    images: list[SeenImage] = field(default_factory=list)
    text: str = ""


Answer = Callable[[StubRequest], dict[str, Any]]
"""The reply's message: `{"content": ...}` and/or `{"tool_calls": [...]}` in OpenAI's shape."""


def describe(request: StubRequest) -> dict[str, Any]:
    """The default answer: what the stub saw."""
    seen = ", ".join(f"{i.width}x{i.height} {i.format} sha256={i.sha256}" for i in request.images)
    return {"content": f"saw {len(request.images)} image(s): {seen}" if seen else "saw no image"}


def colour_centre(
    image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 40
) -> tuple[int, int] | None:
    """The middle of the pixels within `tolerance` of `rgb` (in the image's own coordinates), or None."""
    array = np.asarray(image.convert("RGB"), dtype=np.int16)
    near = (np.abs(array - np.array(rgb, dtype=np.int16)).max(axis=2) <= tolerance).nonzero()
    if len(near[0]) == 0:
        return None
    return int(near[1].mean()), int(near[0].mean())


class VisionStub:
    """`with VisionStub() as stub:` serves on `stub.api_base` until the block ends."""

    def __init__(self, answer: Answer = describe, *, model: str = "stub-vision") -> None:
        self.answer = answer
        self.model = model
        self.received: list[StubRequest] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)  # a request made as soon as the app is up waits in the backlog, not refused
        self.port = self._sock.getsockname()[1]
        self._ready = threading.Event()
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> VisionStub:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the vision stub did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def _app(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            self._ready.set()
            yield

        app = FastAPI(lifespan=lifespan)

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            raw = await request.body()
            body = await request.json()
            seen = StubRequest(body=body, body_bytes=len(raw), received_at=time.perf_counter())
            try:
                _read_messages(body.get("messages", []), seen)
            except ValueError as e:
                return JSONResponse({"error": {"message": str(e), "type": "invalid_request_error"}}, 400)
            self.received.append(seen)
            message = {"role": "assistant", "content": None, **self.answer(seen)}
            prompt = len(seen.text) // 4 + IMAGE_TOKENS * len(seen.images)
            return JSONResponse(
                {
                    "id": f"stub-{len(self.received)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": self.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": 8,
                        "total_tokens": prompt + 8,
                    },
                }
            )

        return app


def _read_messages(messages: list[dict[str, Any]], seen: StubRequest) -> None:
    texts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") == "image_url":
                seen.images.append(_decode(part["image_url"]["url"]))
            else:
                raise ValueError(f"unexpected content part {part.get('type')!r}")
    seen.text = "\n".join(texts)


def _decode(url: str) -> SeenImage:
    header, _, payload = url.partition(",")
    if not url.startswith("data:image/") or not header.endswith(";base64"):
        raise ValueError(f"the stub takes base64 data: URLs only, not {url[:40]!r}")
    data = base64.b64decode(payload, validate=True)
    image = Image.open(io.BytesIO(data))
    image.load()
    return SeenImage(
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        width=image.width,
        height=image.height,
        format=(image.format or "").lower(),
        pixels=image,
    )
