"""One ansible-playbook run through ansible-runner: a private folder, a minimal environment, a sandbox for
checks, and every process of the run killed when the call is cancelled.

The playbook runs with the work dir as its current folder (relative paths land there). The inventory, extra
vars, ansible.cfg and runner artifacts go to a fresh private folder, deleted afterwards. Nothing of aios's
own environment (API keys) reaches ansible unless named in `pass_env`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.kernel.drivers import CallContext
from aios.kernel.errors import SandboxUnavailable, ToolError
from aios.tools.ansible_inventory import INVENTORY_FILE, INVENTORY_PLUGINS
from aios.tools.ansible_staging import StagedPlaybook
from aios.tools.configs import AnsibleConfig
from aios.tools.process_groups import kill, kill_group, pids_where
from aios.tools.sandbox import confined_argv, find_bwrap, interpreter_paths
from aios.tools.sandbox_user import for_process, hand_over, hand_over_tree

RUNNER_ENV = (
    "ANSIBLE_STDOUT_CALLBACK",
    "AWX_ISOLATED_DATA_DIR",
    "ANSIBLE_CACHE_PLUGIN",
    "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "RUNNER_OMIT_EVENTS",
    "RUNNER_ONLY_FAILED_EVENTS",
)
"""Variables ansible-runner sets for its event callback; the rest it copied from os.environ is dropped."""
POLL_S = 0.25
"""How often the runner thread looks for a cancellation."""


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """How one run ended, and every event ansible-runner reported for it."""

    status: str
    rc: int
    events: list[dict[str, Any]]
    duration_ms: float


async def run_playbook(
    staged: StagedPlaybook, ctx: CallContext, config: AnsibleConfig, *, check: bool
) -> RunOutcome:
    """One ansible-playbook run in a worker thread; cancelling it kills ansible and its workers."""
    stop = threading.Event()
    worker = asyncio.ensure_future(asyncio.to_thread(_run_blocking, staged, ctx, config, check, stop))
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait({worker})
        raise


def bin_dir() -> Path:
    """Where this interpreter's console scripts (ansible-playbook) live."""
    scripts = Path(sysconfig.get_path("scripts"))
    return scripts if (scripts / "ansible-playbook").exists() else Path(sys.executable).parent


def base_environment() -> dict[str, str]:
    """What every ansible process gets: a PATH that finds ansible-playbook, a home and a UTF-8 locale."""
    path = [str(bin_dir()), str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    return {
        "PATH": os.pathsep.join(dict.fromkeys(path)),
        "HOME": str(Path.home()),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _run_blocking(
    staged: StagedPlaybook, ctx: CallContext, config: AnsibleConfig, check: bool, stop: threading.Event
) -> RunOutcome:
    try:  # imported on first use: aios starts without paying for it
        from ansible_runner.config.runner import RunnerConfig
        from ansible_runner.exceptions import AnsibleRunnerException
        from ansible_runner.runner import Runner
    except ImportError as e:
        raise ToolError(f"ansible-runner is not installed (pip install ansible-runner): {e}") from e

    started = time.monotonic()
    events: list[dict[str, Any]] = []

    def keep(event: dict[str, Any]) -> bool:
        events.append(event)
        return False  # nothing written to the artifact dir

    with tempfile.TemporaryDirectory(prefix="aios-ansible-") as private:
        folder = Path(private)

        def cancelled() -> bool:
            if stop.is_set():
                _kill_run(private.encode())
            return stop.is_set()

        inventory = folder / INVENTORY_FILE
        inventory.write_text(staged.inventory)
        extra_vars = folder / "extra_vars.json"
        extra_vars.write_text(json.dumps(staged.extra_vars))
        (folder / "ansible.cfg").write_text("[defaults]\n")
        (folder / "env").mkdir()
        (folder / "env" / "settings").write_text(json.dumps({"pexpect_timeout": POLL_S}))
        options = ["--diff", "-v", "--forks", str(config.forks), "-e", f"@{extra_vars}"]
        try:
            runner_config = RunnerConfig(
                private_data_dir=private,
                playbook=str(staged.playbook),
                inventory=str(inventory),
                artifact_dir=str(folder / "artifacts"),
                cmdline=shlex.join(["--check", *options] if check else options),
                suppress_env_files=True,
                suppress_output_file=True,
                quiet=True,
                ident="run",
            )
            runner_config.prepare()
            runner_config.env = _environment(runner_config.env, folder, config)
            if check and config.sandbox_check:
                runner_config.command = _confined(runner_config.command, folder, ctx, config)
                runner_config.env.update(HOME=str(folder), ANSIBLE_REMOTE_TEMP=str(folder / "remote"))
            runner_config.cwd = str(ctx.workdir)
            runner = Runner(config=runner_config, event_handler=keep, cancel_callback=cancelled)
            status, rc = runner.run()
        except AnsibleRunnerException as e:
            raise ToolError(f"ansible-runner failed: {e}") from e
    return RunOutcome(status=status, rc=rc, events=events, duration_ms=(time.monotonic() - started) * 1000)


def _environment(runner_env: dict[str, str], folder: Path, config: AnsibleConfig) -> dict[str, str]:
    """ansible-runner's callback settings, the names in `pass_env`, and the driver's own settings."""
    from ansible_runner.utils import get_callback_dir

    env = {k: runner_env[k] for k in RUNNER_ENV if k in runner_env}
    env.update({name: os.environ[name] for name in config.pass_env if name in os.environ})
    env.update(base_environment())
    env.update(
        TMPDIR=str(folder),
        ANSIBLE_CONFIG=str(folder / "ansible.cfg"),  # never an ansible.cfg from the work dir
        ANSIBLE_CALLBACK_PLUGINS=get_callback_dir(),
        ANSIBLE_LOCAL_TEMP=str(folder / "local"),
        ANSIBLE_INVENTORY_ENABLED=",".join(INVENTORY_PLUGINS),  # the plugins the guard read it with
        ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
        ANSIBLE_HOST_KEY_CHECKING="True",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="True",
        ANSIBLE_PYTHON_INTERPRETER="auto_silent",
        ANSIBLE_PIPELINING="True",
    )
    return env


def _confined(command: list[str], folder: Path, ctx: CallContext, config: AnsibleConfig) -> list[str]:
    bwrap = find_bwrap(config.bwrap)
    if bwrap is None:
        raise SandboxUnavailable(
            f"ansible check refused: {config.bwrap!r} not found (Debian: apt-get install "
            "bubblewrap), or set ansible.sandbox_check = false"
        )
    user = for_process(ctx.pid)
    hand_over(ctx.workdir, user)
    (folder / "artifacts" / "run" / "job_events").mkdir(parents=True, exist_ok=True)  # the callback's
    hand_over_tree(folder, user)  # the run's inventory, settings and artifacts
    return confined_argv(
        bwrap,
        command,
        user=user,
        cwd=ctx.workdir,
        writable=[folder],
        readonly=[ctx.workdir, *interpreter_paths()],
    )


def _kill_run(marker: bytes) -> None:
    """Kill ansible-playbook and its workers, found by this run's private folder in their command lines.

    Workers call setsid, so killing ansible-playbook's process group (what ansible-runner does) would
    leave them, and the modules they run, going. All are stopped first so none can fork past the kill.
    """

    def names_run(cmdline: bytes) -> bool:
        return marker in cmdline

    pids = pids_where("cmdline", names_run)
    for pid in pids:
        kill(pid, signal.SIGSTOP)
    pids |= pids_where("cmdline", names_run)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            kill_group(os.getpgid(pid))
        kill(pid)
