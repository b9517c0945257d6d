"""Builds the FastAPI application from its endpoint families."""

from __future__ import annotations

import importlib.metadata

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from aios.api import problems
from aios.api.auth import Gate
from aios.api.body_limit import BodyLimit
from aios.api.families import Family, install
from aios.kernel.errors import AiosError

API_VERSION = "1"


def create_app(families: list[Family], gate: Gate, *, image_bytes: int = 0) -> FastAPI:
    """The API. Without user tokens (`gate.users` None) it serves agent processes only: the private socket
    of a kernel that `aios run` booted, and the socket bound into agents' sandboxes. `image_bytes`: what
    one call's images may add to a body (the kernel's `[images] max_call_bytes`)."""
    app = FastAPI(
        title="aios",
        version=importlib.metadata.version("aios-runtime"),
        description="Processes, syscalls, events, approvals and memory of an aios kernel (API v1).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json" if gate.users is not None else None,
    )
    app.state.gate = gate
    app.add_middleware(BodyLimit, image_bytes=image_bytes)
    app.add_exception_handler(AiosError, problems.aios_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(HTTPException, problems.http_error)
    app.add_exception_handler(ClientDisconnect, problems.client_gone)
    app.add_exception_handler(Exception, problems.unexpected)
    install(app, families)
    return app
