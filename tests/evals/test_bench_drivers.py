"""`aios bench drivers`: real operations timed per driver (the quick ones here; CI runs them all once)."""

from __future__ import annotations

import pytest

from aios.evals.bench_drivers import run_driver_bench
from aios.kernel.errors import UserError


async def test_every_operation_of_the_chosen_drivers_is_timed() -> None:
    report = await run_driver_bench(["shell", "kubernetes", "gui"], runs=2)
    timed = {(r.driver, r.operation) for r in report.rows}
    assert ("shell", "exec") in timed and ("gui", "launch") in timed and ("kubernetes", "apply") in timed
    assert all(r.runs == 2 and 0 < r.median_ms <= r.max_ms for r in report.rows)
    assert report.last_line().startswith(f"operations={len(report.rows)} shell.exec=")
    with pytest.raises(UserError, match="no benchmark for driver"):
        await run_driver_bench(["printer"], runs=1)
