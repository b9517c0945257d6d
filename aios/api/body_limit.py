"""Refuses request bodies over a size with 413 before they are read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1 << 20
"""1 MiB: the largest thing a client sends is a task or a syscall's text; far smaller in practice."""
MESSAGE_ROUTES = ("/v1/syscalls", "/v1/chat/completions")
"""Routes whose bodies may carry images inline (an agent's data: URL, an OpenAI client's image parts)."""
OPENAI_ROUTES = ("/v1/chat/completions",)


class BodyLimit:
    """`image_bytes` more for the routes that carry chat messages: the kernel's `[images]` allowance per
    call, as base64; the kernel checks the images themselves and says which limit a call broke."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, *, image_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message_bytes = max_bytes + (image_bytes * 4 + 2) // 3

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.message_bytes if path.startswith(MESSAGE_ROUTES) else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, path, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send, path, limit)

    async def _refuse(self, send: Send, path: str, limit: int) -> None:
        detail = f"the request body is over {limit} bytes"
        if path.startswith(MESSAGE_ROUTES):
            detail += " (images inline count as base64: an agent gives its images as work-folder paths)"
        if path.startswith(OPENAI_ROUTES):  # OpenAI's clients read `error`, as on the routes' other errors
            shape = {
                "error": {
                    "message": detail,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "request_too_large",
                }
            }
            kind = b"application/json"
        else:
            shape = {
                "type": "urn:aios:error:PayloadTooLarge",
                "title": "PayloadTooLarge",
                "status": 413,
                "detail": detail,
            }
            kind = b"application/problem+json"
        body = json.dumps(shape).encode()
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
