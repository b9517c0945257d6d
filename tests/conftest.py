"""Shared fixtures: one loaded embedded model per test session, and kernels on temporary databases."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aios.boot import boot
from aios.config import Settings, load_settings
from aios.kernel.engines.local import LocalEngine, LocalEngineConfig
from aios.kernel.kernel import Kernel


@pytest.fixture(autouse=True)
def _shown_to_sandboxes(tmp_path: Path) -> None:
    """pytest makes tmp_path 0700. Run as root, sandboxed code runs as uids of its own and sees such a folder
    only as the entries it had when the sandbox started (a gate file a test makes later would stay unseen).
    A user's project folder is 0755, as this one then is."""
    tmp_path.chmod(0o755)


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One calibration per test session (measuring takes a second or two)."""
    return tmp_path_factory.mktemp("calibration") / "calibration.json"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calibration_file: Path) -> Settings:
    """Settings that write only under tmp_path and ignore the user's config file."""
    config = tmp_path / "config.toml"
    config.write_text(f"[models.local]\nkind = 'local'\ncalibration_file = '{calibration_file}'\n")
    for name in [n for n in os.environ if n.startswith("AIOS_")]:
        monkeypatch.delenv(name)
    return load_settings(config, data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def local_engine(calibration_file: Path) -> Iterator[LocalEngine]:
    """The real embedded model, loaded once; tests use distinct owner ids so their caches never mix."""
    config = LocalEngineConfig(
        n_ctx=8192, n_seq_max=16, max_concurrency=8, calibration_file=str(calibration_file)
    )
    engine = LocalEngine(config)
    yield engine
    asyncio.run(engine.close())


@pytest.fixture
async def kernel(settings: Settings, tmp_path: Path) -> AsyncIterator[Kernel]:
    """A kernel on a fresh database; the model loads only if a test makes an LLM call."""
    k = await boot(settings, cwd=tmp_path)
    yield k
    await k.shutdown(close_engines=True)


@pytest.fixture
async def model_kernel(
    settings: Settings, tmp_path: Path, local_engine: LocalEngine
) -> AsyncIterator[Kernel]:
    """A kernel whose default model is the shared, already loaded embedded engine."""
    k = await boot(settings, cwd=tmp_path)
    k.engines.register("local", local_engine)
    yield k
    await k.shutdown(close_engines=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    environment.update({"AIOS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", "NO_COLOR": "1"})
    return environment


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("")
    return path
