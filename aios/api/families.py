"""Endpoint families: each mounts its routes on the app and closes what it holds, and depends only on the
protocols it is built with; a route finds its family by type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, TypeVar

from fastapi import APIRouter, FastAPI, Request

from aios.api import problems

F = TypeVar("F")


class Family(Protocol):
    """One family of endpoints (processes, approvals, memory, events, OpenAI, MCP, dashboard, ...)."""

    def mount(self, app: FastAPI) -> None:
        """Put the family's routes on the app."""
        ...

    async def aclose(self) -> None:
        """Let go of what the family holds (processes held for clients, streams); idempotent."""
        ...


class Routes:
    """Most families: one router answering RFC 9457 problem details, and nothing held to close
    (`class Approvals(Routes, router=router)`)."""

    _router: ClassVar[APIRouter]

    def __init_subclass__(cls, *, router: APIRouter, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._router = router

    def mount(self, app: FastAPI) -> None:
        app.include_router(self._router, responses=problems.RESPONSES)

    async def aclose(self) -> None:
        """What such a family reads lives elsewhere (the kernel, the database): nothing to let go."""


def install(app: FastAPI, families: list[Family]) -> None:
    """Mount each family and keep it where its routes' dependency finds it."""
    app.state.families = {type(family): family for family in families}
    for family in families:
        family.mount(app)


def family(kind: type[F]) -> Callable[[Request], Awaitable[F]]:
    """The dependency that gives a route its family (a coroutine: FastAPI runs functions in a thread)."""

    async def found(request: Request) -> F:
        instance: F = request.app.state.families[kind]
        return instance

    return found
