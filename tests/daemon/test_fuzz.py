"""Property-based fuzzing of the published OpenAPI document (schemathesis, with an admin token): no 5xx,
and every answer matches the schema the document gives for it."""

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

UNFUZZED = r"(/events$|/wait$|/v1/tokens/\{token_id\}$|/v1/session$|/v1/chat/completions$)"
"""Endless streams and long polls (they would only time out), what would revoke the fuzzer's token, and
chat completions (each case would generate with the real model, or call a provider for a litellm name;
tests/daemon/test_openai_endpoint.py covers them)."""


class ThreadedDaemon:
    """A daemon on an event loop of its own: schemathesis calls it synchronously, over TCP."""

    def __init__(self, settings: Settings, cwd: Path, engine: LocalEngine) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzzed-daemon", daemon=True)
        self.thread.start()
        self.daemon: Daemon = self._run(self._start(settings, cwd, engine))
        self.token, _ = self.daemon.users.create("fuzzer", admin=True)

    async def _start(self, settings: Settings, cwd: Path, engine: LocalEngine) -> Daemon:
        daemon = await start_daemon(settings, cwd=cwd, preload=False)
        daemon.kernel.engines.register("local", engine)
        return daemon

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def close(self) -> None:
        self._run(self.daemon.kernel.shutdown(close_engines=False))
        self._run(self.daemon.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


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
    return schema.exclude(path_regex=UNFUZZED)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_fails_on_any_input(case: schemathesis.Case, fuzzed: ThreadedDaemon) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzzed.token}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
