"""The dashboard in real Chromium: log in, watch processes live, approve by clicking; screenshots kept.

Screenshots go to $DASHBOARD_SCREENSHOTS when set (the README's come from there), else to the test's folder.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.kernel.approvals import PolicyRule
from aios.kernel.engines.local import LocalEngine
from aios.tools.browser_config import LAUNCH_ARGS, BrowserConfig
from tests.daemon.conftest import client, user_token

CHROMIUM = BrowserConfig().executable
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Chromium is not installed"
)


@pytest.fixture
async def asking_daemon(
    daemon_settings: Settings, tmp_path: Path, local_engine: LocalEngine, agents_dist: Path
) -> AsyncIterator[Daemon]:
    """A daemon whose policy asks a human before any shell command."""
    rule = PolicyRule(tool="shell.exec", decision="ask", reason="the dashboard test asks")
    settings = daemon_settings.model_copy(
        update={"approvals": daemon_settings.approvals.model_copy(update={"rules": [rule]})}
    )
    running = await start_daemon(settings, cwd=tmp_path, preload=False)
    running.kernel.engines.register("local", local_engine)
    yield running
    await running.kernel.shutdown(close_engines=False)
    await running.close()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=list(LAUNCH_ARGS))
        try:
            yield await browser.new_page(viewport={"width": 1280, "height": 720})
        finally:
            await browser.close()


async def test_processes_appear_and_finish_live_and_an_approval_is_clicked(
    asking_daemon: Daemon, page: Page, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    token = user_token(asking_daemon, "alice")
    base = f"http://127.0.0.1:{asking_daemon.port}"
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(f"{base}/")
    await page.fill("#login-token", token)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#processes")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["aios_session"]["httpOnly"] and cookies["aios_session"]["sameSite"] == "Strict"

    async with client(asking_daemon, token) as api:
        chat = (await api.post("/v1/processes", json={"agent": "chat", "task": "Say hi"})).json()["pid"]
        await page.wait_for_selector(f'tr[data-pid="{chat}"] td[data-state="done"]', timeout=60_000)
        asker = (
            await api.post("/v1/processes", json={"agent": "asker", "task": "approved by a click"})
        ).json()
    await page.wait_for_selector(
        f'tr[data-pid="{asker["pid"]}"] td[data-state="blocked_approval"]', timeout=60_000
    )
    await page.screenshot(path=shots / "dashboard-processes.png", full_page=True)

    await page.click('a[href="#/approvals"]')
    card = page.locator("[data-approval]").first
    await card.wait_for(timeout=30_000)
    assert "shell.exec" in await card.inner_text() and "approved by a click" in await card.inner_text()
    await page.screenshot(path=shots / "dashboard-approval.png", full_page=True)
    await card.locator("button[data-approve]").click()

    await page.goto(f"{base}/ui/#/p/{asker['pid']}")
    # (the page's CSP forbids eval, so wait on the DOM, not on a script)
    await page.locator("#answer", has_text="approved by a click").wait_for(timeout=60_000)
    assert await page.inner_text("#process-state") == "done"
    await page.screenshot(path=shots / "dashboard-process.png", full_page=True)
    approval = asking_daemon.kernel.store.list_approvals(pending_only=False)[0]
    assert approval.state == "approved" and approval.decided_by == "alice"
    assert errors == []


async def test_a_cookie_alone_cannot_change_anything(asking_daemon: Daemon) -> None:
    """A page on another site can make the browser send the session cookie, but not the CSRF header."""
    token = user_token(asking_daemon, "alice")
    async with client(asking_daemon) as browser_like:
        login = await browser_like.post("/v1/session", json={"token": token})
        assert login.status_code == 204
        assert (await browser_like.get("/v1/processes")).status_code == 200  # reading with the cookie works
        forged = await browser_like.post("/v1/processes", json={"agent": "chat", "task": "x"})
        assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
        csrf = browser_like.cookies["aios_csrf"]
        allowed = await browser_like.post(
            "/v1/processes", json={"agent": "chat", "task": "x"}, headers={"X-CSRF-Token": csrf}
        )
        assert allowed.status_code == 201
        preflight = await browser_like.options(
            "/v1/processes",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers  # no CORS
