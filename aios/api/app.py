"""Builds the FastAPI application around a kernel."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from aios.api import agent_routes, problems
from aios.api.state import ApiState
from aios.kernel.errors import AiosError

API_VERSION = "1"


def create_app(state: ApiState) -> FastAPI:
    """The API: routes for agent processes (their own token) and, later, for users."""
    app = FastAPI(
        title="aios",
        version=API_VERSION,
        description="Processes, syscalls, events, approvals and memory of an aios kernel.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.aios = state
    app.add_exception_handler(AiosError, problems.aios_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(HTTPException, problems.http_error)
    app.include_router(agent_routes.router)
    return app
