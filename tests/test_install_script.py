"""scripts/install.sh: it parses, and its llama.cpp build leaves out what the engine never loads.

The build itself takes minutes and needs the sdist from PyPI, so the CMake test runs the script's arguments
against a small model of llama-cpp-python's tree: a parent that forces LLAMA_BUILD_COMMON on in its cache, as
llama-cpp-python's CMakeLists.txt does, around a `project(llama.cpp)` that declares it as llama.cpp does.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "install.sh"

_PARENT_CMAKE = """cmake_minimum_required(VERSION 3.21)
project(llama_cpp NONE)
set(LLAMA_BUILD_COMMON ON CACHE BOOL "Build llama.cpp common library" FORCE)
add_subdirectory(vendor/llama.cpp)
"""
_LLAMA_CMAKE = """cmake_minimum_required(VERSION 3.14...3.28)
project("llama.cpp" NONE)
option(LLAMA_BUILD_COMMON "llama: build common utils library" OFF)
option(LLAMA_BUILD_TESTS "llama: build tests" ON)
message(STATUS "seen: common=${LLAMA_BUILD_COMMON} tests=${LLAMA_BUILD_TESTS}")
"""


def _script_function(call: str, *, env: dict[str, str] | None = None) -> str:
    """One of the script's functions on its own: sourcing the script runs nothing else."""
    done = subprocess.run(
        ["bash", "-c", f'source "{SCRIPT}" && {call}'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _configure(tmp_path: Path, args: list[str]) -> str:
    """What llama.cpp's scope sees of its options when configured with `args` (a fresh build folder each)."""
    source = tmp_path / "llama_cpp_python"
    (source / "vendor" / "llama.cpp").mkdir(parents=True, exist_ok=True)
    (source / "CMakeLists.txt").write_text(_PARENT_CMAKE)
    (source / "vendor" / "llama.cpp" / "CMakeLists.txt").write_text(_LLAMA_CMAKE)
    build = tmp_path / f"build{len(list(tmp_path.glob('build*')))}"
    done = subprocess.run(
        ["cmake", "-S", str(source), "-B", str(build), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return next(line for line in done.stdout.splitlines() if "seen:" in line)


def test_script_parses() -> None:
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed (bash scripts/install.sh)")
def test_llama_build_turns_common_off_where_a_plain_define_cannot(tmp_path: Path) -> None:
    args = _script_function(f'llama_cmake_args "{tmp_path}"').split()

    assert "common=ON" in _configure(tmp_path, ["-DLLAMA_BUILD_COMMON=OFF"])
    assert "common=OFF tests=OFF" in _configure(tmp_path, args)


def test_llama_build_lets_the_callers_cmake_args_win(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CMAKE_ARGS": "-DLLAMA_BUILD_TESTS=ON -DGGML_CUDA=on"}
    args = _script_function(f'llama_cmake_args "{tmp_path}"', env=env).split()

    assert args[-2:] == ["-DLLAMA_BUILD_TESTS=ON", "-DGGML_CUDA=on"]
    assert args.index("-DLLAMA_BUILD_TESTS=OFF") < args.index("-DLLAMA_BUILD_TESTS=ON")


def test_requirements_installed_during_the_build_are_the_projects_but_llama() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"] + extras["test"] + extras["examples"]
    llama = [requirement for requirement in declared if requirement.startswith("llama-cpp-python")]

    listed = _script_function("requirements_but_llama").splitlines()

    assert len(llama) == 1
    assert listed == [requirement for requirement in declared if requirement not in llama]
    assert _script_function("pinned_llama_version").strip() == llama[0].rpartition("==")[2]
