"""Errors as RFC 9457 problem details, named by their `aios.sdk` class so clients raise the same one."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from aios.kernel import errors
from aios.kernel.errors import AiosError

logger = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:aios:error:"
MEDIA_TYPE = "application/problem+json"

_STATUS: tuple[tuple[type[AiosError], int], ...] = (
    (errors.InvalidSyscall, 422),
    (errors.UnknownProcess, 404),
    (errors.UnknownApproval, 404),
    (errors.UnknownAgent, 404),
    (errors.UnknownModel, 404),
    (errors.PermissionDenied, 403),
    (errors.UserError, 400),
    (errors.LimitExceeded, 429),
    (errors.EngineRateLimited, 429),
    (errors.ProcessKilled, 409),
    (errors.KernelShutDown, 503),
    (errors.SandboxUnavailable, 503),
    (errors.EngineTimeout, 504),
    (errors.ToolTimeout, 504),
    (errors.RuntimeFailure, 502),
)


class Problem(BaseModel):
    """An error: `title` names the `aios.sdk` exception class; `detail` says what went wrong."""

    type: str
    title: str
    status: int
    detail: str
    pid: int | None = None
    syscall_id: str | None = None


def _documented(what: str) -> dict[str, Any]:
    return {"description": what, "content": {MEDIA_TYPE: {"schema": Problem.model_json_schema()}}}


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The request asks for something wrong"),
    401: _documented("No token, or an unknown, expired or revoked one"),
    403: _documented("The token may not do this"),
    404: _documented("No such thing (or not the caller's)"),
    409: _documented("The process ended meanwhile"),
    413: _documented("The body is over 1 MiB"),
    422: _documented("The request does not validate"),
    429: _documented("Too many at once"),
    502: _documented("A tool, engine or agent failed while serving a valid request"),
    503: _documented("The kernel is shutting down, or a sandbox is unavailable"),
    504: _documented("A tool or engine took too long"),
}
"""Documented on every route: clients learn the error shape from the OpenAPI document."""


def status_of(error: AiosError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + title, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


async def aios_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AiosError)
    return problem(
        status_of(error), type(error).__name__, error.message, pid=error.pid, syscall_id=error.syscall_id
    )


async def validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in list(error.errors())[:5]
    )
    return problem(422, "InvalidRequest", f"the request does not validate: {problems}")


async def http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    title = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed"}.get(
        error.status_code, "HTTPError"
    )
    response = problem(error.status_code, title, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    if error.status_code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = "Bearer"  # RFC 9110: every 401 names how to authenticate
    return response


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    """A bug: the caller gets a problem that leaks nothing, the log gets the traceback."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return problem(500, "InternalError", "the daemon failed while serving this request; its log says why")


async def client_gone(_request: Request, _error: Exception) -> Response:
    """The caller hung up mid-request (an agent process killed while it sent a syscall): nobody reads this."""
    return Response(status_code=499)
