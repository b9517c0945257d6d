"""Latency of `shell.exec` in the bubblewrap sandbox (for `aios bench drivers`)."""

from __future__ import annotations

import time
from pathlib import Path

from aios.kernel.drivers import CallContext
from aios.tools.shell import ExecArgs, ShellDriver


async def bench_shell(runs: int, workdir: Path) -> dict[str, list[float]]:
    driver = ShellDriver(cwd=workdir)
    ctx = CallContext(pid=1, workdir=workdir / "work")
    ctx.workdir.mkdir()
    samples: dict[str, list[float]] = {"exec": []}
    await driver.mode()  # the one-time probe is not a call's cost
    for _ in range(runs):
        started = time.perf_counter()
        await driver.call("exec", ExecArgs(cmd="echo ok"), ctx)
        samples["exec"].append((time.perf_counter() - started) * 1000)
    return samples
