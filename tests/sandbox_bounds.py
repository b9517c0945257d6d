"""What tests of sandbox bounds need from the machine: CI runs as root where cgroups are writable, so there
a missing bound fails the test instead of skipping it."""

from __future__ import annotations

import os

import pytest

from aios.tools.cgroups import CgroupTree, detect


def unavailable(why: str) -> None:
    """Skip on a developer's machine that lacks what the test needs; fail in CI, which has it."""
    message = f"{why}: `aios doctor` says so"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def cgroup_tree() -> CgroupTree:
    tree, why_not = detect()
    if tree is None:
        unavailable(f"this machine gives aios no cgroups ({why_not})")
    assert tree is not None
    return tree
