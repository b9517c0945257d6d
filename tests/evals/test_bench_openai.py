"""`aios bench openai` runs end to end on a tiny workload (figures are for the note, not asserted)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aios.config import Settings
from aios.daemon import Daemon, start_daemon
from aios.evals.bench_openai import OpenAIBenchParams, run_openai_bench
from aios.kernel.engines.local import LocalEngine

pytestmark = pytest.mark.model


@pytest.fixture
async def daemon(settings: Settings, tmp_path: Path, local_engine: LocalEngine) -> AsyncIterator[Daemon]:
    tcp = settings.model_copy(update={"daemon": settings.daemon.model_copy(update={"port": 0})})
    running = await start_daemon(tcp, cwd=tmp_path, preload=False)
    running.kernel.engines.register("local", local_engine)
    yield running
    await running.kernel.shutdown(close_engines=False, interrupt=True)
    await running.close()


async def test_bench_runs_the_workload_three_ways(daemon: Daemon) -> None:
    token, _ = daemon.users.create("bench")
    params = OpenAIBenchParams(agents=2, calls_per_agent=2, tokens_per_call=4, pause_s=0.05)
    report = await run_openai_bench(daemon, token, params)
    assert [r.mode for r in report.rows] == ["sdk", "endpoint", "plain-server"]
    # ignore_eos (min_tokens on the plain server) makes the token work identical in every mode
    assert {(r.calls, r.tokens) for r in report.rows} == {(4, 16)}
    assert all(r.seconds > 0 and r.prompt_tokens > 0 for r in report.rows)
    endpoint = report.rows[1]
    assert 0 < endpoint.cached_tokens < endpoint.prompt_tokens  # second calls reuse their conversation's KV
    assert report.prefill_saved == endpoint.cached_tokens / endpoint.prompt_tokens
    line = r"endpoint_vs_sdk=\d+\.\d\d endpoint_vs_plain_server=\d+\.\d\d prefill_saved=0\.\d\d"
    assert re.fullmatch(line, report.last_line())
    pids = [p.pid for p in daemon.kernel.store.list_processes(limit=100) if p.agent == "openai"]
    assert pids and all(daemon.kernel.process(pid).owner == "bench" for pid in pids)
