"""A bug in a route is answered in its protocol's error shape, a 500 that leaks nothing, and logged whole."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from aios.api.app import create_app
from aios.api.auth import Gate
from aios.api.openai_errors import OpenAIRoute
from aios.isolation.channels import AgentChannels

SECRET = "sk-internal-detail"


class Broken:
    """A family whose routes fail the way a bug does: with an exception no handler expects."""

    def mount(self, app: FastAPI) -> None:
        plain, openai = APIRouter(), APIRouter(route_class=OpenAIRoute)

        @plain.get("/v1/broken")
        async def broken() -> None:
            raise RuntimeError(SECRET)

        @openai.get("/v1/openai-broken")
        async def openai_broken() -> None:
            raise RuntimeError(SECRET)

        app.include_router(plain)
        app.include_router(openai)

    async def aclose(self) -> None:
        """Holds nothing."""


@pytest.fixture
def api() -> httpx.AsyncClient:
    app = create_app([Broken()], Gate(users=None, channels=AgentChannels(max_inflight=1)))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://aios")


async def test_a_bug_is_a_problem_on_v1_and_an_openai_error_on_the_openai_routes(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        async with api:
            plain = await api.get("/v1/broken")
            openai = await api.get("/v1/openai-broken")
    assert plain.status_code == 500 and plain.headers["content-type"] == "application/problem+json"
    assert plain.json()["title"] == "InternalError"
    assert openai.status_code == 500 and openai.json()["error"]["type"] == "server_error"
    assert SECRET not in plain.text and SECRET not in openai.text
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) >= 2 and all(SECRET in str(r.exc_info[1]) for r in logged)
