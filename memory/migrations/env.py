"""Alembic environment of the memory tables (their own version table, beside the kernel's)."""

from alembic import context

from aios.memory.schema import MemoryBase

VERSION_TABLE = "aios_memory_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=MemoryBase.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
