"""Builds the FastAPI application around a kernel."""

from __future__ import annotations

import importlib.metadata

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from aios.api import agent_routes, problems
from aios.api.body_limit import BodyLimit
from aios.api.state import ApiState
from aios.kernel.errors import AiosError

API_VERSION = "1"


def create_app(state: ApiState) -> FastAPI:
    """The API. Without user tokens (`state.users` None) it serves agent processes only: the private
    socket of a kernel that `aios run` booted, and the socket bound into agents' sandboxes."""
    app = FastAPI(
        title="aios",
        version=importlib.metadata.version("aios-runtime"),
        description="Processes, syscalls, events, approvals and memory of an aios kernel (API v1).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json" if state.users is not None else None,
    )
    app.state.aios = state
    app.add_middleware(BodyLimit)
    app.add_exception_handler(AiosError, problems.aios_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(HTTPException, problems.http_error)
    app.add_exception_handler(ClientDisconnect, problems.client_gone)
    app.include_router(agent_routes.router, responses=problems.RESPONSES)
    if state.users is not None:  # imported here: a kernel's private agent socket starts without them
        from aios.api import (
            approval_routes,
            dashboard,
            event_routes,
            memory_routes,
            metrics,
            openai_routes,
            process_routes,
            system_routes,
            user_routes,
        )

        routers = (system_routes, user_routes, process_routes, event_routes, approval_routes, memory_routes)
        for module in (*routers, metrics):
            app.include_router(module.router, responses=problems.RESPONSES)
        app.include_router(openai_routes.router)  # its own error shape: OpenAI's
        dashboard.mount(app)
    return app
