"""OpenAI's error shape for the OpenAI-compatible routes: its clients raise by status and read `error`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from aios.api import problems
from aios.api.openai_wire import ErrorBody, ErrorDetail, WireError
from aios.kernel.errors import AiosError, ContextOverflow, PermissionDenied, UnknownModel, UserError

logger = logging.getLogger(__name__)

_STATUS_TO_TYPE = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


def error_body(error: Exception) -> tuple[int, ErrorBody]:
    """The status and OpenAI-shaped body of a failure of these routes."""
    param = code = None
    if isinstance(error, RequestValidationError):
        first = next(iter(error.errors()), {})
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(where) or None
        status, message = 400, f"{param or 'the body'}: {first.get('msg', 'invalid')}"
    elif isinstance(error, HTTPException):
        status, message = error.status_code, str(error.detail)
        code = "invalid_api_key" if status == 401 else None
    elif isinstance(error, ContextOverflow):
        status, message, code = 400, str(error), "context_length_exceeded"
    elif isinstance(error, UnknownModel):
        status, message, code = 404, str(error), "model_not_found"
    elif isinstance(error, PermissionDenied):
        status, message = 403, str(error)
    elif isinstance(error, UserError):
        status, message = 400, str(error)
        param = error.param if isinstance(error, WireError) else None
    elif isinstance(error, AiosError):
        status, message = problems.status_of(error), str(error)
    else:
        status, message = 500, "internal error"
    kind = _STATUS_TO_TYPE.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return status, ErrorBody(error=ErrorDetail(message=message, type=kind, param=param, code=code))


def error_response(error: Exception) -> JSONResponse:
    status, body = error_body(error)
    headers = dict(error.headers or {}) if isinstance(error, HTTPException) else {}
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers or None)


class OpenAIRoute(APIRoute):
    """Answers every failure of its routes in OpenAI's error shape (the rest of the API answers RFC 9457
    problem details): validation, authentication, kernel errors alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (RequestValidationError, HTTPException, AiosError) as e:
                return error_response(e)
            except Exception as e:  # a bug: the client gets OpenAI's 500, the log the traceback
                logger.exception("%s %s failed", request.method, request.url.path)
                return error_response(e)

        return guarded


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request is malformed or asks for what is not supported"},
    401: {"model": ErrorBody, "description": "No token, or an unknown, expired or revoked one"},
    403: {"model": ErrorBody, "description": "The token may not do this"},
    404: {"model": ErrorBody, "description": "No such model"},
    409: {"model": ErrorBody, "description": "The conversation's process was killed meanwhile"},
    429: {"model": ErrorBody, "description": "Too many conversations, or the provider's rate limit"},
    502: {"model": ErrorBody, "description": "The engine failed while serving a valid request"},
    503: {"model": ErrorBody, "description": "The daemon is shutting down"},
    504: {"model": ErrorBody, "description": "The engine took too long"},
}
