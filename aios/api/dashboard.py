"""The dashboard: static assets shipped in the package (no CDN), served by the daemon at `/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).with_name("static")
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/")
async def index() -> FileResponse:
    return FileResponse(ASSETS / "index.html", headers=_HEADERS)


class Dashboard:
    """The page and its assets; it reaches the daemon through the other families' routes."""

    def mount(self, app: FastAPI) -> None:
        app.include_router(router)
        app.mount("/ui/static", StaticFiles(directory=ASSETS), name="dashboard")

    async def aclose(self) -> None:
        """Static files hold nothing."""
