"""What the kernel writes into, or changes in, a work dir the sandboxed agent owns: a link the agent planted
there never sends a write, an owner change or a mode change outside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aios.kernel.errors import ToolError
from aios.tools.sandbox import strip_setid
from aios.tools.sandbox_user import for_process, hand_over
from aios.tools.workdir_files import save_for


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_a_screenshot_folder_that_is_a_link_is_refused(work: Path, outside: Path) -> None:
    (work / "screenshots").symlink_to(outside)
    with pytest.raises(ToolError, match="is not a folder of the work dir"):
        save_for(work, "screenshots", "page.png", b"png", for_process(7))
    assert list(outside.iterdir()) == [] and outside.stat().st_uid == os.geteuid()


def test_a_file_name_taken_by_a_link_is_not_written_through(work: Path, outside: Path) -> None:
    (work / "downloads").mkdir()
    (work / "downloads" / "report.txt").symlink_to(outside / "target")
    user = for_process(7)
    path = save_for(work, "downloads", "report.txt", b"data", user)
    assert path == work / "downloads" / "report-1.txt" and path.read_bytes() == b"data"
    assert not (outside / "target").exists()
    assert path.stat().st_uid == user.uid and (work / "downloads").stat().st_uid == user.uid


def test_handing_over_a_link_changes_nothing(work: Path, outside: Path) -> None:
    (work / "planted").symlink_to(outside)
    hand_over(work / "planted", for_process(7))
    assert outside.stat().st_uid == os.geteuid()


def test_clearing_setuid_bits_never_follows_a_link(work: Path, outside: Path) -> None:
    target = outside / "program"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o4755)
    (work / "link").symlink_to(target)
    own = work / "own"
    own.write_text("#!/bin/sh\n")
    own.chmod(0o4755)
    assert strip_setid(work) == [own]
    assert stat.S_IMODE(own.stat().st_mode) == 0o755
    assert stat.S_IMODE(target.stat().st_mode) == 0o4755, "the link's target is not the work dir's"
