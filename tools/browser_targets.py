"""Finding the element an agent means: a snapshot ref, a selector, or words it can see on the page."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from aios.kernel.errors import ToolError

_REF = re.compile(r"^\[?(?:aria-ref=|ref=)?(?P<ref>(?:f\d+)?e\d+)\]?$")
POLL_S = 0.1


def candidates(page: Page, target: str) -> list[Locator]:
    """Ways to read `target`, most specific first: a ref, a selector, exact text, label, placeholder, text."""
    target = target.strip()
    ref = _REF.match(target)
    if ref is not None:
        return [page.locator(f"aria-ref={ref['ref']}")]
    return [
        page.locator(target),
        page.get_by_text(target, exact=True),
        page.get_by_label(target),
        page.get_by_placeholder(target),
        page.get_by_text(target),
    ]


async def locate(page: Page, target: str, *, timeout_s: float, visible: bool, tool: str) -> Locator:
    """The first element `target` names, waiting up to `timeout_s` for it to appear; a ToolError if none."""
    deadline = time.monotonic() + timeout_s
    is_ref = _REF.match(target.strip()) is not None
    ways = candidates(page, target)
    if visible:
        ways = [w.filter(visible=True) for w in ways]
    while True:
        for way in ways:
            try:
                if await way.count():
                    return way.first
            except PlaywrightError:
                continue  # not a valid selector, or a ref from an older snapshot: try the next reading
        if is_ref or time.monotonic() >= deadline:
            break  # a ref names an element of the last snapshot: waiting cannot make it appear
        await asyncio.sleep(POLL_S)
    hint = (
        "refs come from the latest browser.snapshot; take a new one"
        if is_ref
        else "use a ref from browser.snapshot, a CSS selector, or text visible on the page"
    )
    raise ToolError(
        f"{tool}: no {'visible ' if visible else ''}element matches {target!r} on {page.url} ({hint})"
    )
