"""The `aios` commands against a running daemon, as a user types them in another shell (how the daemon
stops, or fails to start, without leaving files behind: test_routes.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.config import load_settings
from aios.daemon import check_exposure
from aios.kernel.errors import ConfigError
from tests.cli_helpers import aios
from tests.daemon.test_load_and_sigkill import DaemonProcess

KERNEL_SIDE = (
    "aios.boot",
    "aios.kernel.kernel",
    "aios.kernel.store",
    "aios.kernel.engines.registry",
    "aios.kernel.engines.local",
    "aios.kernel.engines.litellm_engine",
    "aios.tools.registry",
    "sqlalchemy",
    "alembic",
    "llama_cpp",
    "litellm",
)
CLIENT_ONLY = (
    "import atexit, sys\n"
    "from aios.cli import main\n"
    f"heavy = {KERNEL_SIDE!r}\n"
    "atexit.register(lambda: print('kernel-side modules loaded:', [m for m in heavy if m in sys.modules]))\n"
    "sys.argv = ['aios', '-c', *sys.argv[1:]]\n"
    "main()\n"
)
"""`aios -c CONFIG ARGS...` as the console script runs it; says at exit which kernel-side modules loaded."""


def as_client(config: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command against the daemon, which must act as its client only (no kernel, database or engine)."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_ONLY, str(config), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "kernel-side modules loaded: []" in done.stdout, done.stdout + done.stderr
    return done


@pytest.fixture
def daemon_process(tmp_path: Path, agents_dist: Path, calibration_file: Path) -> Iterator[DaemonProcess]:
    """A daemon the test starts; killed if the test fails first (a stray one would outlive the suite)."""
    config = tmp_path / "config.toml"
    config.write_text(f"[models.local]\nkind = 'local'\ncalibration_file = '{calibration_file}'\n")
    process = DaemonProcess(tmp_path / "data", config, agents_dist)
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.stop(signal.SIGKILL)


def test_the_cli_spawns_on_the_daemon_and_manages_its_processes(
    tmp_path: Path, daemon_process: DaemonProcess
) -> None:
    daemon = daemon_process
    config = daemon.config
    env = {**daemon.env, "COLUMNS": "200", "NO_COLOR": "1"}
    with daemon.start() as client:
        ran = aios("-c", str(config), "run", "chat", "Say hi", env=env, cwd=tmp_path)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "on the daemon: pid 1" in ran.stdout and "pid 1 chat done" in ran.stdout
        assert client.process(1).state.value == "done"  # the daemon's process, not a private kernel's
        ran_light = as_client(config, "run", "chat", "Say hi", env=env, cwd=tmp_path)
        assert ran_light.returncode == 0 and "on the daemon: pid 2" in ran_light.stdout
        sleeper = client.spawn("sleeper", "").pid
        listed = as_client(config, "ps", "--active", env=env, cwd=tmp_path)
        rows = [line for line in listed.stdout.splitlines() if "sleeper" in line or "chat" in line]
        assert listed.returncode == 0 and len(rows) == 1 and f"│ {sleeper} " in rows[0], listed.stdout
        killed = as_client(config, "kill", str(sleeper), env=env, cwd=tmp_path)
        assert killed.returncode == 0 and f"pid {sleeper}: killed" in killed.stdout
        logged = as_client(config, "logs", "1", env=env, cwd=tmp_path)
        assert logged.returncode == 0 and " llm " in logged.stdout and " ok" in logged.stdout, logged.stdout
        unknown = as_client(config, "logs", "99", env=env, cwd=tmp_path)
        assert unknown.returncode == 2 and "no process 99" in unknown.stderr
        followed = as_client(config, "logs", "1", "--follow", env=env, cwd=tmp_path)
        assert followed.returncode == 0 and "end" in followed.stdout and '"state": "done"' in followed.stdout
        made = aios("-c", str(config), "token", "create", "--user", "alice", env=env, cwd=tmp_path)
        token = made.stdout.strip().splitlines()[-1]
        assert made.returncode == 0 and token.startswith("aiosu_")
        assert client.aio.token != token
    daemon.stop(signal.SIGTERM)
    stopped = aios("-c", str(config), "kill", "1", env=env, cwd=tmp_path)
    assert stopped.returncode != 0 and "no aios daemon answers" in stopped.stdout + stopped.stderr
    assert not (tmp_path / "data" / "cli.token").exists()  # the admin token went with the daemon
    table = aios("-c", str(config), "ps", env=env, cwd=tmp_path)  # without a daemon: from the database
    assert table.returncode == 0 and any("chat" in row and "done" in row for row in table.stdout.splitlines())


def test_listening_beyond_loopback_needs_tls_or_saying_so(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    exposed = load_settings(config, data_dir=tmp_path, daemon={"host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="not loopback"):
        check_exposure(exposed)
    check_exposure(load_settings(config, data_dir=tmp_path, daemon={"host": "0.0.0.0", "insecure": True}))
    with pytest.raises(ConfigError, match="go together"):
        check_exposure(load_settings(config, data_dir=tmp_path, daemon={"tls_cert": "c.pem"}))
    check_exposure(load_settings(config, data_dir=tmp_path, daemon={"host": "127.0.0.1"}))


def test_service_install_writes_a_unit_that_runs_the_daemon(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = aios("service", "install", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "config" / "systemd" / "user" / "aios.service").read_text()
    assert f"ExecStart={sys.executable} -m aios serve" in unit and "KillSignal=SIGTERM" in unit
