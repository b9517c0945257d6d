"""Settings of the browser driver."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aios.tools.browser_network import parse_host_entry
from aios.tools.screen_images import ScreenshotConfig

LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Chromium switches: headless, and no traffic of its own (updates, sync, field trials)."""


class BrowserConfig(BaseModel):
    """Settings of the browser driver (`[browser]` in the config file)."""

    model_config = ConfigDict(extra="forbid")

    executable: str = "/usr/lib/chromium/chromium"
    """Chromium binary; Debian's `chromium` package installs it here."""
    allow_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1", "localhost"])
    """Hosts pages may reach: globs with an optional port (`*.example.com`, `127.0.0.1:8000`); `*` is any.

    Hosts are enforced twice (each request, and Chromium's resolver); a port only bounds requests, since
    Chromium may still open a connection to another port of an allowed host ahead of a refused navigation,
    and it follows a server's redirects without asking routing again.
    """
    timeout_s: float = Field(default=30.0, gt=0)
    """Most seconds one operation may take, end to end."""
    navigation_timeout_s: float = Field(default=15.0, gt=0)
    """Most seconds a page load may take."""
    action_timeout_s: float = Field(default=3.0, gt=0)
    """Most seconds to find an element and act on it, so a missing one fails fast."""
    download_timeout_s: float = Field(default=60.0, gt=0)
    max_text_chars: int = Field(default=8000, ge=100)
    """Most characters of page text or snapshot returned; the rest is cut and flagged."""
    preview_chars: int = Field(default=500, ge=0)
    """Characters of the page's text that `open` returns as a first look."""
    max_download_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    """Downloads past this size are cancelled and deleted."""
    viewport_width: int = Field(default=1280, ge=200, le=7680)
    viewport_height: int = Field(default=800, ge=200, le=4320)
    screenshot: ScreenshotConfig = Field(default_factory=ScreenshotConfig)
    """How `browser.screenshot` scales and encodes the page for a model (`[browser.screenshot]`)."""

    @field_validator("allow_hosts")
    @classmethod
    def _valid_hosts(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            parse_host_entry(entry)
        return [e.strip().lower() for e in entries]
