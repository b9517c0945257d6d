"""Body limits: 1 MiB for everything but the routes that carry chat messages, which may add one call's
images as base64; a refusal speaks the route's error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from aios.api.body_limit import MAX_BODY_BYTES, BodyLimit

IMAGE_BYTES = 3 * MAX_BODY_BYTES


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


def client() -> httpx.AsyncClient:
    app = BodyLimit(echo_size, image_bytes=IMAGE_BYTES)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aios")


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 65536):
        yield b"x" * 65536


async def test_message_routes_take_images_and_others_stay_small() -> None:
    two_mib = b"x" * (2 * MAX_BODY_BYTES)
    async with client() as api:
        for path in ("/v1/chat/completions", "/v1/syscalls"):
            response = await api.post(path, content=two_mib)
            assert (response.status_code, response.text) == (200, str(len(two_mib))), path
        refused = await api.post("/v1/processes", content=two_mib)
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == f"the request body is over {MAX_BODY_BYTES} bytes"


async def test_over_the_image_allowance_is_refused_in_the_routes_shape_declared_or_streamed() -> None:
    limit = MAX_BODY_BYTES + (IMAGE_BYTES * 4 + 2) // 3
    async with client() as api:
        declared = await api.post("/v1/chat/completions", content=b"x" * (limit + 1))
        streamed = await api.post("/v1/chat/completions", content=chunks(limit + 65536 * 2))
        agent = await api.post("/v1/syscalls", content=chunks(limit + 65536 * 2))
    for response in (declared, streamed):
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "request_too_large"
        assert f"over {limit} bytes" in error["message"]
    assert agent.status_code == 413 and "work-folder paths" in agent.json()["detail"]
