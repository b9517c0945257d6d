"""Property-based fuzzing of every route of the published OpenAPI document (schemathesis, with an admin
token): no 5xx, and every answer matches the schema the document gives for it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from aios.config import Settings, load_settings
from aios.daemon import Daemon, start_daemon
from aios.kernel.engines.local import LocalEngine

LONG_POLL_S = 0.5
"""The most a fuzzed `wait` may wait (its own bound is 300 s)."""
MAX_FUZZED_TOKENS = 4
"""Tokens a fuzzed chat completion may generate on the real model."""


class ThreadedDaemon:
    """A daemon on an event loop of its own: schemathesis calls it synchronously, over TCP."""

    def __init__(self, settings: Settings, cwd: Path, engine: LocalEngine) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzzed-daemon", daemon=True)
        self.thread.start()
        self.daemon: Daemon = self._run(self._start(settings, cwd, engine))

    def token(self) -> str:
        """A fresh admin token per case: a fuzzed DELETE /v1/tokens/{id} may revoke the one before."""
        return self.daemon.users.create("fuzzer", admin=True)[0]

    async def _start(self, settings: Settings, cwd: Path, engine: LocalEngine) -> Daemon:
        daemon = await start_daemon(settings, cwd=cwd, preload=False)
        daemon.kernel.engines.register("local", engine)
        return daemon

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def close(self) -> None:
        self._run(self.daemon.kernel.shutdown(close_engines=False))
        self._run(self.daemon.close())
        self._run(_cancel_the_rest())  # what streams left behind (sse-starlette's shutdown watcher)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory,
    calibration_file: Path,
    local_engine: LocalEngine,
    agents_dist: Path,
) -> Iterator[ThreadedDaemon]:
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "config.toml"
    config.write_text(
        f"[models.local]\nkind = 'local'\ncalibration_file = '{calibration_file}'\n[daemon]\nport = 0\n"
    )
    daemon = ThreadedDaemon(load_settings(config, data_dir=root / "data"), root, local_engine)
    yield daemon
    daemon.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed: ThreadedDaemon) -> schemathesis.BaseSchema:
    url = f"http://127.0.0.1:{fuzzed.daemon.port}"
    schema = schemathesis.openapi.from_url(f"{url}/v1/openapi.json")
    schema.config.base_url = url
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_fails_on_any_input(case: schemathesis.Case, fuzzed: ThreadedDaemon) -> None:
    bounded(case)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzzed.token()}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )


def bounded(case: schemathesis.Case) -> None:
    """Keep every case finite: long polls short, event streams not following, generations a few tokens on
    the embedded model (a fuzzed name could otherwise send the call to a provider)."""
    path = case.operation.path
    query = case.query if isinstance(case.query, dict) else {}
    if path.endswith("/wait"):
        query["timeout_s"] = LONG_POLL_S
    if path.endswith("/events"):
        query["follow"] = "false"
    case.query = query
    if path == "/v1/chat/completions" and isinstance(case.body, dict):
        case.body.update(model="local", max_tokens=MAX_FUZZED_TOKENS)
        case.body.pop("max_completion_tokens", None)
