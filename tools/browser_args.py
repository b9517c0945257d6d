"""Arguments of the browser operations, as the model sees them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aios.tools.browser_network import require_navigable

TARGET_DESCRIPTION = (
    "The element: a ref from browser.snapshot (like e12), a CSS selector (like #submit or input[name=q]), "
    "or the element's visible text, label or placeholder."
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenArgs(_Args):
    """Arguments of `browser.open`."""

    url: str = Field(
        min_length=1,
        max_length=4000,
        description="The http:// or https:// address to open.",
        examples=["http://localhost:8000/"],
    )

    @field_validator("url")
    @classmethod
    def _navigable(cls, url: str) -> str:
        return require_navigable(url)


class ClickArgs(_Args):
    """Arguments of `browser.click`."""

    target: str = Field(min_length=1, max_length=500, description=TARGET_DESCRIPTION)


class TypeArgs(_Args):
    """Arguments of `browser.type`."""

    target: str = Field(min_length=1, max_length=500, description=TARGET_DESCRIPTION)
    text: str = Field(max_length=10000, description="Text that replaces the field's content.")
    submit: bool = Field(default=False, description="Press Enter afterwards (submits most forms).")


class SelectArgs(_Args):
    """Arguments of `browser.select`."""

    target: str = Field(min_length=1, max_length=500, description=TARGET_DESCRIPTION)
    value: str = Field(max_length=1000, description="The option to choose, by its value or its label.")


class ScrollArgs(_Args):
    """Arguments of `browser.scroll`: by an offset, or until an element is in view."""

    dx: int = Field(default=0, ge=-100_000, le=100_000, description="Pixels to the right (negative: left).")
    dy: int = Field(default=0, ge=-100_000, le=100_000, description="Pixels down (negative: up).")
    target: str | None = Field(
        default=None,
        max_length=500,
        description="Scroll this element into view instead of by dx/dy. " + TARGET_DESCRIPTION,
    )

    @model_validator(mode="after")
    def _one_way(self) -> ScrollArgs:
        if self.target is not None and (self.dx or self.dy):
            raise ValueError("give either target or dx/dy, not both")
        return self


class BackArgs(_Args):
    """`browser.back` takes no arguments."""


class ReadTextArgs(_Args):
    """Arguments of `browser.read_text`."""

    target: str | None = Field(
        default=None, max_length=500, description="Read only this element (default: the whole page)."
    )


class SnapshotArgs(_Args):
    """Arguments of `browser.snapshot`."""

    mode: Literal["ai", "default"] = Field(
        default="ai", description="'ai' adds refs (like [ref=e12]) usable as targets; 'default' omits them."
    )


class ScreenshotArgs(_Args):
    """Arguments of `browser.screenshot`."""

    full_page: bool = Field(
        default=False,
        description="The whole page, not just what is in view: as wide as a usual shot, as long as the page.",
    )
    """A full page keeps its length: only its width is scaled to `[browser.screenshot] max_width`."""
    full_size: bool = Field(
        default=False,
        description="At the page's own pixel size, not scaled down: for small print (a larger image).",
    )


class DownloadArgs(_Args):
    """Arguments of `browser.download`: a link or button to click, or an address to fetch."""

    target: str | None = Field(default=None, max_length=500, description=TARGET_DESCRIPTION)
    url: str | None = Field(
        default=None, max_length=4000, description="The http:// or https:// file address."
    )

    @field_validator("url")
    @classmethod
    def _navigable(cls, url: str | None) -> str | None:
        return None if url is None else require_navigable(url, allow_blank=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> DownloadArgs:
        if (self.target is None) == (self.url is None):
            raise ValueError("give exactly one of target (an element to click) or url")
        return self
