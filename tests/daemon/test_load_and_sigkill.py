"""The daemon as a separate OS process under load: a hundred isolated agents, then a SIGKILL mid-load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.kernel.records import ProcessRecord, ProcessState
from aios.kernel.store import ProcessStore
from aios.sdk import Client, connect
from aios.tools.sandbox import find_bwrap

pytestmark = pytest.mark.skipif(
    find_bwrap() is None and not os.environ.get("CI"), reason="bubblewrap is not installed"
)
REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 60.0


class DaemonProcess:
    """`python -m aios serve` on a data dir, started and stopped (or killed) by the test."""

    def __init__(self, data_dir: Path, config: Path, agents_dist: Path) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
        self.env.update(
            AIOS_DATA_DIR=str(data_dir),
            PYTHONPATH=os.pathsep.join([str(agents_dist), str(REPO)]),
        )
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> Client:
        token_file = self.data_dir / "cli.token"
        token_file.unlink(missing_ok=True)
        self.log = (self.data_dir.parent / f"daemon-{time.monotonic_ns()}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aios", "-c", str(self.config), "serve", "--no-tcp", *extra],
            env=self.env,
            cwd=self.data_dir.parent,  # the user's folder: shell commands see the gate file there
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_S
        while not token_file.exists():
            assert self.proc.poll() is None, f"the daemon exited: {self.log.name}"
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.05)
        return connect(
            socket=self.data_dir / "aios.sock", token=token_file.read_text().strip(), timeout_s=120
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self.log.close()


@pytest.fixture
def daemon_process(tmp_path: Path, agents_dist: Path, calibration_file: Path) -> Iterator[DaemonProcess]:
    config = tmp_path / "config.toml"
    config.write_text(
        f"[models.local]\nkind = 'local'\ndeterministic = true\ncalibration_file = '{calibration_file}'\n"
        "[shell]\ntimeout_s = 600\n"  # the journalers wait at their gate across the kill
    )
    process = DaemonProcess(tmp_path / "data", config, agents_dist)
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.stop(signal.SIGKILL)


def counter_task(calls: int) -> str:
    return json.dumps({"calls": calls, "llm_every": 10, "tool_every": 7})


def stored(data_dir: Path, pids: list[int]) -> list[ProcessRecord]:
    store = ProcessStore(f"sqlite:///{data_dir / 'aios.db'}")
    try:
        return [record for pid in pids if (record := store.get_process(pid)) is not None]
    finally:
        store.close()


def ok_syscalls(data_dir: Path, pids: list[int]) -> dict[int, dict[str, int]]:
    """Successful syscalls per process, by kind, from the audit log."""
    store = ProcessStore(f"sqlite:///{data_dir / 'aios.db'}")
    try:
        counted: dict[int, dict[str, int]] = {}
        for pid in pids:
            rows = [r for r in store.audit(pid=pid, limit=100_000) if r.status == "ok"]
            counted[pid] = {kind: sum(r.kind == kind for r in rows) for kind in ("llm", "tool", "noop")}
        return counted
    finally:
        store.close()


def test_a_hundred_isolated_agents_then_a_sigkill_lose_nothing(
    daemon_process: DaemonProcess, tmp_path: Path
) -> None:
    client = daemon_process.start()
    with client:
        pids = [client.spawn("counter", counter_task(20)).pid for _ in range(100)]
        records = [client.wait(pid, timeout_s=600) for pid in pids]
        assert [r.state for r in records] == [ProcessState.DONE] * 100, [r.error for r in records if r.error][
            :3
        ]
        assert {r.result for r in records} == {"20"}
        assert all(r.isolated for r in records) and sum(r.llm_calls for r in records) == 200

        gate = tmp_path / "gate"
        journaler = json.dumps({"say": "hi", "gate": str(gate)})
        second = [client.spawn("counter", counter_task(60)).pid for _ in range(20)]
        second += [client.spawn("journaler", journaler).pid for _ in range(2)]
        # mid-load: a few counters have made LLM calls, the journalers wait at their gate
        deadline = time.monotonic() + 300
        while sum(client.process(pid).llm_calls > 0 for pid in second) < 5:
            assert time.monotonic() < deadline, "the second load did not get going"
            time.sleep(0.05)
    daemon_process.stop(signal.SIGKILL)
    cut = [p for p in stored(daemon_process.data_dir, second) if not p.state.is_terminal]
    assert len(cut) >= 3  # the kill did land mid-load: these were running

    gate.touch()
    with daemon_process.start("--resume-interrupted") as client:
        finished = [client.wait(pid, timeout_s=600) for pid in second]
        reference = client.wait(client.spawn("journaler", journaler).pid, timeout_s=300)
        listed = {p.pid for p in client.processes(limit=1000)}
    daemon_process.stop()
    assert [r.state for r in finished] == [ProcessState.DONE] * 22, [r.error for r in finished if r.error][:3]
    assert [r.result for r in finished[:20]] == ["60"] * 20
    assert [json.loads(r.result or "") for r in finished[20:]] == [json.loads(reference.result or "")] * 2
    assert set(pids + second) <= listed  # the process table survived the kill
    # every syscall answered exactly once without a crash. Across the crash, replayed answers are not
    # audited again; a call whose answer was not yet journaled when the kill came runs once more (at most
    # one per process: its program stops at it); no-ops are not journaled, so a resumed program asks them
    # again, and they count again
    counted = ok_syscalls(daemon_process.data_dir, pids + second[:20])
    assert {pid: counted[pid] for pid in pids} == {pid: {"llm": 2, "tool": 2, "noop": 16} for pid in pids}
    for pid in second[:20]:
        again = counted[pid]["llm"] - 6 + counted[pid]["tool"] - 8
        assert counted[pid]["llm"] >= 6 and counted[pid]["tool"] >= 8 and again <= 1, counted[pid]
        assert counted[pid]["noop"] >= 46, counted[pid]
