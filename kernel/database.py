"""Opening a database the runtime's way, shared by the process table and the memory store: SQLAlchemy,
SQLite in WAL mode (its folder created) unless the URL names another server, migrated to head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_database(url: str, migrations: Path) -> Engine:
    """Create the SQLAlchemy engine (SQLite: WAL, parent folder created) and bring `migrations` to head."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine, migrations)
    return engine


def migrate(engine: Engine, migrations: Path) -> None:
    """Run the Alembic migrations in `migrations` up to head on this database."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
