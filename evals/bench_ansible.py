"""Latency of `ansible.check` and `ansible.apply` on a one-task local playbook (for `aios bench drivers`).

An apply is three ansible-playbook runs: the check before it, the real run, and the idempotency check.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from aios.kernel.drivers import CallContext
from aios.tools.ansible import AnsibleDriver
from aios.tools.ansible_args import PlaybookArgs


def _playbook(name: str) -> str:
    return (
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy: {{dest: {name}, content: benchmark}}\n"
    )


async def bench_ansible(runs: int, workdir: Path) -> dict[str, list[float]]:
    driver = AnsibleDriver()
    ctx = CallContext(pid=1, workdir=workdir / "ansible-work")
    ctx.workdir.mkdir()
    samples: dict[str, list[float]] = {"check": [], "apply": []}
    try:
        for run in range(runs):
            args = PlaybookArgs(playbook=_playbook(f"file-{run}.txt"))  # a new file: each run has a change
            for operation in ("check", "apply"):
                started = time.perf_counter()
                await driver.call(operation, args, ctx)
                samples[operation].append((time.perf_counter() - started) * 1000)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    return samples
