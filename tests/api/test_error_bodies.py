"""Error bodies built from the exceptions themselves, without a server: OpenAI's shape on the OpenAI routes,
RFC 9457 problem details on the rest of the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from openai.types import ErrorObject
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from aios.api import problems
from aios.api.openai_errors import error_body, error_response
from aios.api.openai_wire import ChatCompletionRequest, WireError
from aios.kernel import errors
from aios.kernel.errors import AiosError
from aios.sdk._remote import error_from_problem


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An HTTP answer as the SDK reads it."""

    status_code: int
    content: bytes


def body_of(response: Response) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(bytes(response.body))
    return parsed


def request_validation_error(body: dict[str, Any]) -> RequestValidationError:
    """What FastAPI raises for this chat request body: pydantic's errors, located under `body`."""
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(body)
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])


def request() -> Request:
    return Request(
        {"type": "http", "method": "POST", "path": "/v1/processes", "headers": [], "query_string": b""}
    )


# ---- OpenAI's shape ------------------------------------------------------------------------------------


def openai_error(error: Exception) -> tuple[int, ErrorObject]:
    status, body = error_body(error)
    return status, ErrorObject.model_validate(body.model_dump(mode="json")["error"])


def test_a_body_that_does_not_validate_names_its_first_bad_field() -> None:
    error = request_validation_error({"model": "local", "messages": [{"role": "wizard", "content": "x"}]})
    status, body = openai_error(error)
    assert (status, body.type, body.param, body.code) == (
        400,
        "invalid_request_error",
        "messages.0.role",
        None,
    )
    assert body.message.startswith("messages.0.role: Input should be")


def test_a_bad_function_name_is_named_by_its_field() -> None:
    error = request_validation_error(
        {"model": "local", "messages": [{"role": "user"}], "tools": [{"function": {"name": "a b"}}]}
    )
    status, body = openai_error(error)
    assert (status, body.param) == (400, "tools.0.function.name")


def test_a_validation_error_without_details_blames_the_body() -> None:
    status, body = openai_error(RequestValidationError([]))
    assert (status, body.param, body.message) == (400, None, "the body: invalid")


def test_no_token_is_an_invalid_api_key_with_a_challenge() -> None:
    response = error_response(HTTPException(401, "send 'Authorization: Bearer <token>'"))
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert body_of(response) == {
        "error": {
            "message": "send 'Authorization: Bearer <token>'",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (403, "permission_error"),
        (404, "invalid_request_error"),
        (413, "invalid_request_error"),
        (503, "server_error"),
    ],
)
def test_other_http_errors_keep_their_status_and_no_challenge(status: int, kind: str) -> None:
    response = error_response(HTTPException(status, "nope"))
    assert response.status_code == status and "WWW-Authenticate" not in response.headers
    assert body_of(response)["error"] == {"message": "nope", "type": kind, "param": None, "code": None}


def test_a_prompt_too_long_is_the_callers_context_length_error() -> None:
    status, body = openai_error(errors.ContextOverflow("the prompt has 9000 tokens; the context 8192", pid=4))
    assert (status, body.type, body.code) == (400, "invalid_request_error", "context_length_exceeded")
    assert body.message == "the prompt has 9000 tokens; the context 8192 (pid 4)"


def test_an_unknown_model_is_model_not_found() -> None:
    status, body = openai_error(errors.UnknownModel("no model named 'ghost'"))
    assert (status, body.type, body.code, body.message) == (
        404,
        "invalid_request_error",
        "model_not_found",
        "no model named 'ghost'",
    )


@pytest.mark.parametrize("cls", [errors.PermissionDenied, errors.ApprovalDenied, errors.HostBlocked])
def test_a_refusal_is_a_permission_error(cls: type[AiosError]) -> None:
    status, body = openai_error(cls("llm.local is not granted"))
    assert (status, body.type, body.param, body.code) == (403, "permission_error", None, None)


def test_a_wire_error_names_its_param() -> None:
    status, body = openai_error(WireError("n=2: one choice per request", param="n"))
    assert (status, body.type, body.param, body.message) == (
        400,
        "invalid_request_error",
        "n",
        "n=2: one choice per request",
    )


@pytest.mark.parametrize(
    "cls", [errors.UserError, errors.InvalidSyscall, errors.UnknownProcess, errors.ConfigError]
)
def test_other_caller_mistakes_are_bad_requests_without_a_param(cls: type[AiosError]) -> None:
    status, body = openai_error(cls("wrong"))
    assert (status, body.type, body.param, body.code) == (400, "invalid_request_error", None, None)


@pytest.mark.parametrize(
    ("cls", "status", "kind"),
    [
        (errors.ProcessKilled, 409, "conflict_error"),
        (errors.LimitExceeded, 429, "rate_limit_error"),
        (errors.EngineRateLimited, 429, "rate_limit_error"),
        (errors.EngineError, 502, "server_error"),
        (errors.EngineAuthError, 502, "server_error"),
        (errors.ToolError, 502, "server_error"),
        (errors.KernelShutDown, 503, "server_error"),
        (errors.SandboxUnavailable, 503, "server_error"),
        (errors.EngineTimeout, 504, "server_error"),
        (errors.Signal, 500, "server_error"),
        (AiosError, 500, "server_error"),
    ],
)
def test_runtime_failures_answer_their_problem_status(cls: type[AiosError], status: int, kind: str) -> None:
    got, body = openai_error(cls("it broke", pid=3, syscall_id="sc-1"))
    assert (got, body.type, body.param, body.code) == (status, kind, None, None)
    assert body.message == "it broke (pid 3, syscall sc-1)"


def test_an_unexpected_exception_is_a_500_that_tells_nothing() -> None:
    secret = "KeyError at /srv/aios/secret.py line 12, token aiosu_abc123"
    response = error_response(RuntimeError(secret))
    assert response.status_code == 500
    assert body_of(response) == {
        "error": {"message": "internal error", "type": "server_error", "param": None, "code": None}
    }


# ---- RFC 9457 problem details --------------------------------------------------------------------------

STATUS_OF: list[tuple[type[AiosError], int]] = [
    (errors.UserError, 400),
    (errors.ConfigError, 400),
    (errors.InvalidSyscall, 422),
    (errors.UnknownProcess, 404),
    (errors.UnknownApproval, 404),
    (errors.UnknownAgent, 404),
    (errors.UnknownModel, 404),
    (errors.PermissionDenied, 403),
    (errors.ApprovalDenied, 403),
    (errors.HostBlocked, 403),
    (errors.RuntimeFailure, 502),
    (errors.EngineError, 502),
    (errors.EngineAuthError, 502),
    (errors.EngineRateLimited, 429),
    (errors.ContextOverflow, 502),
    (errors.EngineTimeout, 504),
    (errors.ToolError, 502),
    (errors.ToolTimeout, 504),
    (errors.MemoryFailure, 502),
    (errors.SandboxUnavailable, 503),
    (errors.LimitExceeded, 429),
    (errors.KernelShutDown, 503),
    (errors.ReplayDiverged, 502),
    (errors.AgentFailed, 502),
    (errors.ProcessKilled, 409),
    (errors.Signal, 500),
    (AiosError, 500),
]


@pytest.mark.parametrize(("cls", "status"), STATUS_OF)
async def test_each_error_is_a_problem_named_by_its_class(cls: type[AiosError], status: int) -> None:
    response = await problems.aios_error(request(), cls("it went wrong", pid=7))
    assert response.status_code == status
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    name = cls.__name__
    assert body_of(response) == {
        "type": f"urn:aios:error:{name}",
        "title": name,
        "status": status,
        "detail": "it went wrong",  # the message alone: pid and syscall have fields of their own
        "pid": 7,
        "syscall_id": None,
    }
    problems.Problem.model_validate(body_of(response))


async def test_a_problem_carries_the_syscall_id() -> None:
    response = await problems.aios_error(request(), errors.EngineTimeout("slow", pid=2, syscall_id="sc-9"))
    assert (body_of(response)["pid"], body_of(response)["syscall_id"]) == (2, "sc-9")


def test_every_status_an_error_can_have_is_documented_or_a_500() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, AiosError)]
    undocumented = {
        c.__name__: s for c in classes if (s := problems.status_of(c("x"))) not in problems.RESPONSES
    }
    assert set(undocumented.values()) <= {500}, undocumented


@pytest.mark.parametrize("cls", [cls for cls, _ in STATUS_OF])
async def test_the_sdk_raises_the_class_a_problem_names(cls: type[AiosError]) -> None:
    response = await problems.aios_error(request(), cls("it went wrong", pid=7))
    raised = error_from_problem(Answer(status_code=response.status_code, content=bytes(response.body)))
    assert (type(raised), raised.message, raised.pid) == (cls, "it went wrong", 7)


async def test_a_body_that_does_not_validate_is_a_422_listing_five_problems() -> None:
    messages = [{"role": "wizard"} for _ in range(7)]
    error = request_validation_error({"model": "local", "messages": messages})
    response = await problems.validation_error(request(), error)
    body = body_of(response)
    assert (response.status_code, body["title"], body["type"]) == (
        422,
        "InvalidRequest",
        "urn:aios:error:InvalidRequest",
    )
    assert body["detail"].startswith("the request does not validate: body.messages.0.role: Input should be")
    assert body["detail"].count("body.messages.") == 5
    assert response.headers["content-type"] == problems.MEDIA_TYPE


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (403, "Forbidden"),
        (404, "NotFound"),
        (405, "MethodNotAllowed"),
        (413, "HTTPError"),
        (418, "HTTPError"),
    ],
)
async def test_http_errors_are_problems_titled_by_status(status: int, title: str) -> None:
    response = await problems.http_error(request(), HTTPException(status, "no such thing"))
    assert response.status_code == status and "WWW-Authenticate" not in response.headers
    assert body_of(response) == {
        "type": f"urn:aios:error:{title}",
        "title": title,
        "status": status,
        "detail": "no such thing",
    }


async def test_an_http_errors_headers_go_out_with_it() -> None:
    error = HTTPException(
        401, "unknown or revoked process token", headers={"WWW-Authenticate": 'Bearer realm="aios"'}
    )
    response = await problems.http_error(request(), error)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="aios"'
    assert body_of(response)["title"] == "Unauthorized"


async def test_every_401_says_how_to_authenticate() -> None:
    response = await problems.http_error(request(), HTTPException(401, "unknown, expired or revoked token"))
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_client_gone_gets_an_empty_499() -> None:
    response = await problems.client_gone(request(), ClientDisconnect())
    assert (response.status_code, response.body) == (499, b"")
