"""Stopping process groups and finding processes through /proc, on real processes."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from aios.tools.process_groups import alive, kill, kill_group, pids_where, stop_group

T = TypeVar("T")
DEADLINE_S = 10.0


def wait_for(condition: Callable[[], T], what: str) -> T:
    """Until `condition()` returns something truthy (returned); fails after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {DEADLINE_S}s for {what}"
        time.sleep(0.01)
    return value


def marked(marker: str) -> Callable[[bytes], bool]:
    return lambda text: marker.encode() in text


def sleeper(marker: str) -> str:
    """A child that sleeps a minute and carries `marker` in its command line."""
    return f"{sys.executable} -c 'import time; time.sleep(60)' {marker}"


def test_a_group_killed_leaves_none_of_its_processes() -> None:
    marker = f"aios-test-{secrets.token_hex(8)}"
    session = subprocess.Popen(
        ["/bin/sh", "-c", f"{sleeper(marker)} & {sleeper(marker)}; wait"], start_new_session=True
    )
    try:
        # the shell's own command line names the marker too: the shell and its two children
        wait_for(lambda: len(pids_where("cmdline", marked(marker))) == 3, "both children")
        assert session.pid in pids_where("cmdline", marked(marker))
        kill_group(session.pid)
        assert session.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        wait_for(lambda: not pids_where("cmdline", marked(marker)), "the children to be gone")
    finally:
        kill_group(session.pid)
        session.wait()
    kill_group(session.pid)  # a group that is gone is not an error


def test_pids_where_reads_the_environment() -> None:
    value = secrets.token_hex(8)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "AIOS_TEST_MARK": value},
        start_new_session=True,
    )
    try:
        assert wait_for(
            lambda: pids_where("environ", marked(f"AIOS_TEST_MARK={value}")) == {child.pid}, "the child"
        )
        assert alive(child.pid)
    finally:
        kill_group(child.pid)
        child.wait()


def test_stop_group_kills_what_ignores_sigterm_after_the_grace() -> None:
    polite = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stop_group(polite, grace_s=DEADLINE_S)
    assert polite.returncode == -signal.SIGTERM

    marker = f"aios-test-{secrets.token_hex(8)}"
    stubborn = subprocess.Popen(["/bin/sh", "-c", f"trap '' TERM; {sleeper(marker)}"], start_new_session=True)
    # the child inherits the ignored SIGTERM, so once it runs the trap is in place
    wait_for(
        lambda: pids_where(
            "cmdline", lambda text: text.startswith(sys.executable.encode()) and marker.encode() in text
        ),
        "the child",
    )
    started = time.monotonic()
    stop_group(stubborn, grace_s=0.3)
    assert stubborn.returncode == -signal.SIGKILL
    assert time.monotonic() - started >= 0.3


def test_kill_and_alive_on_a_process_that_is_gone() -> None:
    child = subprocess.Popen(["sleep", "60"])
    assert kill(child.pid)
    assert child.wait() == -signal.SIGKILL
    assert not alive(child.pid)
    assert not kill(child.pid)
    assert alive(os.getpid())
