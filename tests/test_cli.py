"""The `aios` command line end to end, as a user runs it (subprocesses, the real embedded model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .cli_helpers import aios


@pytest.mark.model
def test_run_chat_then_ps(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    done = aios(
        "--config",
        str(config),
        "run",
        "chat",
        "Write a haiku about schedulers",
        "--model",
        "local",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "spawned agent chat" in done.stdout
    assert "llm local: prompt" in done.stdout and "answer (pid 1)" in done.stdout
    assert "pid 1 chat done in" in done.stdout
    table = aios("--config", str(config), "ps", env=env, cwd=tmp_path)
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if "chat" in line)
    assert "done" in row and "Write a haiku" in row
    cache = aios("--config", str(config), "kv", env=env, cwd=tmp_path)
    assert cache.returncode == 0 and "no live process holds a KV cache" in cache.stdout
    out = tmp_path / "traces.jsonl"
    export = aios("--config", str(config), "trace", "-o", str(out), env=env, cwd=tmp_path)
    assert export.returncode == 0 and "wrote 1 program traces" in export.stdout
    assert '"agent":"chat"' in out.read_text() and '"output_tokens"' in out.read_text()


@pytest.mark.model
def test_run_react_end_to_end(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    project = tmp_path / "project"
    (project / "kernel").mkdir(parents=True)
    for i in range(3):
        (project / "kernel" / f"m{i}.py").write_text("x = 1\n" * (i + 1))
    run = aios(
        "--config",
        str(config),
        "run",
        "react",
        "How many .py files are under ./kernel, and how many lines do they have in total?",
        env=env,
        cwd=project,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tool shell.exec" in run.stdout and "exit " in run.stdout
    assert "react done in" in run.stdout and "answer (pid" in run.stdout


def test_agents_models_and_doctor(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    agents = aios("--config", str(config), "agents", env=env, cwd=tmp_path)
    assert agents.returncode == 0 and "react" in agents.stdout and "shell.exec" in agents.stdout
    models = aios("--config", str(config), "models", env=env, cwd=tmp_path)
    assert models.returncode == 0
    lines = [line for line in models.stdout.splitlines() if "local" in line]
    assert "(default)" in lines[0]
    doctor = aios("--config", str(config), "doctor", env=env, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout
    for check in (
        "model file",
        "llama.cpp",
        "sandbox (bubblewrap)",
        "sandbox user",
        "sandbox bounds",
        "database",
    ):
        assert check in doctor.stdout


def test_users_grant_revoke_and_reset(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    def users(*args: str) -> str:
        done = aios("--config", str(config), "users", *args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return " ".join(done.stdout.split())

    assert "bob (the default for users): llm, memory.*, ansible.check, shell.*" in users("show", "bob")
    assert "bob (set by local admin): llm, memory.*, ansible.check, shell.*, browser.*" in users(
        "grant", "bob", "browser.*"
    )
    assert "browser.*" in users("list") and "a user without a grant gets" in users("list")
    assert "shell.*" not in users("revoke", "bob", "shell.*")
    assert "(the default for users)" in users("reset", "bob")
    bad = aios("--config", str(config), "users", "grant", "bob", "a[b]", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "not a capability pattern" in bad.stderr


def test_errors_are_clear_and_exit_non_zero(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    unknown = aios("--config", str(config), "run", "ghost", "boo", env=env, cwd=tmp_path)
    assert unknown.returncode == 2 and "UnknownAgent: no agent named 'ghost'" in unknown.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[shell]\ntimeout_s = -1\n")
    broken = aios("--config", str(bad), "models", env=env, cwd=tmp_path)
    assert broken.returncode == 2 and "ConfigError" in broken.stderr and "shell.timeout_s" in broken.stderr
    wrong_model = aios("--config", str(config), "run", "chat", "hi", "--model", "nope", env=env, cwd=tmp_path)
    assert wrong_model.returncode == 2 and "UnknownModel" in wrong_model.stderr


@pytest.mark.model
def test_ctrl_c_kills_the_process_cleanly(tmp_path: Path, env: dict[str, str], config: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aios",
            "--config",
            str(config),
            "run",
            "react",
            "Find every file and count lines.",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    seen = ""
    assert proc.stdout is not None
    # `aios run` handles Ctrl-C from before it spawns the agent
    while "spawned agent react" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + out + err
    assert "killing pid 1" in out and "killed" in out
    table = aios("--config", str(config), "ps", env=env, cwd=tmp_path)
    row = next(line for line in table.stdout.splitlines() if "react" in line)
    assert "killed" in row


def test_sigterm_lets_a_command_clean_up(tmp_path: Path) -> None:
    """A terminated command (CI's timeout, `kill`) cancels what runs, so its cleanup happens (an
    evaluation's task computers): without the handler SIGTERM ends Python with no `finally` run."""
    import signal

    marker = tmp_path / "cleaned"
    program = (
        "import asyncio, sys\n"
        "from aios import cli\n"
        "@cli.app.command('hang')\n"
        "def hang() -> None:\n"
        "    async def go() -> None:\n"
        "        try:\n"
        "            print('ready', flush=True)\n"
        "            await asyncio.sleep(60)\n"
        "        finally:\n"
        f"            open({str(marker)!r}, 'w').write('cleaned')\n"
        "    asyncio.run(go())\n"
        "sys.argv = ['aios', 'hang']\n"
        "cli.main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert marker.read_text() == "cleaned"
    assert "terminated" in err
