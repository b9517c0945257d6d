"""Memory fixtures: a manager per test on SQLite, and on PostgreSQL where a server is configured."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from aios.memory.config import MemorySettings
from aios.memory.manager import MemoryManager

POSTGRES_ENV = "AIOS_TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    """The test server's URL; CI must have one (a skip there would hide a broken PostgreSQL path)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set in CI; .ci/run starts PostgreSQL and sets it")
        pytest.skip(f"no PostgreSQL server configured ({POSTGRES_ENV})")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'memory.db'}"
        return
    server = make_url(postgres_server_url())
    name = f"aios_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_manager(url: str, tmp_path: Path, **settings: object) -> MemoryManager:
    return MemoryManager(
        MemorySettings.model_validate(settings), database_url=url, chroma_path=tmp_path / "chroma"
    )


@pytest.fixture
async def manager(database_url: str, tmp_path: Path) -> AsyncIterator[MemoryManager]:
    """A manager on each database, with small short-term budgets (paging happens after a few pages)."""
    m = make_manager(database_url, tmp_path, short_term_pages=3)
    yield m
    await m.close()
