"""The architecture, checked: the import-linter contracts in pyproject.toml, every package's file sizes,
and what a quick CLI command loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("llama_cpp", "torch", "playwright", "Xlib", "chromadb", "litellm", "kubernetes", "ansible_runner")
"""What `aios --help`, `aios version` and `aios ps` must never load."""


def installed_layout(root: Path) -> Path:
    """The `aios` package as a wheel lays it out (folders mapped by `package-dir`), copied under `root`:
    import-linter finds modules by walking the package's folder, which an editable install lacks."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(mapping.items()):
        target = root.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in (REPO / folder).glob("*.py"):
            shutil.copy(source, target / source.name)
        for sub in (REPO / folder).iterdir():
            if sub.is_dir() and (sub / "__init__.py").is_file() and f"{package}.{sub.name}" not in mapping:
                shutil.copytree(sub, target / sub.name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    lint_imports = shutil.which("lint-imports")
    assert lint_imports, "import-linter is a test dependency: pip install -e '.[test]'"
    return subprocess.run(
        [lint_imports, "--no-cache", str(REPO / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold(tmp_path: Path) -> None:
    result = lint(installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("where", "line", "broken", "edge"),
    [
        (
            "memory/shortcut.py",
            "from aios.kernel.kernel import Kernel",
            "only aios.boot builds the concrete kernel",
            "aios.memory.shortcut -> aios.kernel.kernel",
        ),
        (
            "api/shortcut.py",
            "from aios.boot import boot",
            "the API depends on the kernel's protocols, never on its parts or on what builds it",
            "aios.api.shortcut -> aios.boot",
        ),
        (
            "api/shortcut.py",
            "from aios.kernel.store import ProcessStore",
            "the API depends on the kernel's protocols, never on its parts or on what builds it",
            "aios.api.shortcut -> aios.kernel.store",
        ),
        (
            "isolation/shortcut.py",
            "from aios.api.app import create_app",
            "the shell's layers",
            "aios.isolation.shortcut -> aios.api.app",
        ),
    ],
)
def test_an_import_against_the_layers_breaks_the_contracts(
    tmp_path: Path, where: str, line: str, broken: str, edge: str
) -> None:
    root = installed_layout(tmp_path)
    (root / "aios" / where).write_text(line + "\n")
    result = lint(root)
    assert result.returncode == 1
    output = " ".join(result.stdout.split())  # the report wraps long contract names
    assert f"{broken}" in output and "BROKEN" in output
    assert edge in output


def test_no_file_does_more_than_one_job() -> None:
    """Every package: the kernel's files stay under 400 lines, the rest under 500."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    folders = {REPO / folder for folder in mapping.values()}
    too_big = {}
    for folder in folders:
        limit = 400 if folder.name == "kernel" else 500
        for path in folder.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text().splitlines())
            if lines > limit:
                too_big[str(path.relative_to(REPO))] = lines
    assert not too_big, f"split these: {too_big}"


@pytest.mark.parametrize("command", [["--help"], ["version"], ["ps"]])
def test_quick_commands_load_no_engine_browser_or_display(command: list[str], tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from aios.cli import app\n"
        f"result = CliRunner().invoke(app, {command!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env["AIOS_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_agent_process_starts_without_servers_drivers_or_the_database() -> None:
    """What `python -m aios.isolation.child` imports before the agent's own module: spawn time is this."""
    heavy = ("httpx", "fastapi", "uvicorn", "starlette", "sqlalchemy", "aios.tools", "aios.api", "llama_cpp")
    probe = f"import sys, aios.isolation.child\nprint(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
