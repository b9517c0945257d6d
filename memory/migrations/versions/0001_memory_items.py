"""Memory items with keyword search: SQLite FTS5 or PostgreSQL full text.

Revision ID: m0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memory_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(40), nullable=False),
        sa.Column("session", sa.String(200), nullable=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("key", sa.String(300), nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("supersedes", sa.Integer, nullable=True),
        sa.Column("superseded_by", sa.Integer, nullable=True),
        sa.Column("segment_id", sa.Integer, nullable=True),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("heat", sa.Float, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("pending", sa.String(16), nullable=True),
        sa.Column("indexed_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("accessed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_memory_scope_tier", "memory_items", ["user", "agent", "tier", "state"])
    op.create_index("ix_memory_session", "memory_items", ["user", "agent", "session", "tier"])
    op.create_index("ix_memory_key", "memory_items", ["user", "agent", "key"])
    op.create_index("ix_memory_pending", "memory_items", ["pending"])
    op.create_index("ix_memory_unindexed", "memory_items", ["indexed_at"])
    op.create_index("ix_memory_items_segment_id", "memory_items", ["segment_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE memory_fts USING fts5(text, scope, content='memory_items', "
            "content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER memory_fts_insert AFTER INSERT ON memory_items BEGIN "
            "INSERT INTO memory_fts(rowid, text, scope) VALUES (new.id, new.text, new.scope); END"
        )
        op.execute(
            "CREATE TRIGGER memory_fts_delete AFTER DELETE ON memory_items BEGIN "
            "INSERT INTO memory_fts(memory_fts, rowid, text, scope) "
            "VALUES ('delete', old.id, old.text, old.scope); END"
        )
        op.execute(
            "CREATE TRIGGER memory_fts_update AFTER UPDATE OF text, scope ON memory_items BEGIN "
            "INSERT INTO memory_fts(memory_fts, rowid, text, scope) "
            "VALUES ('delete', old.id, old.text, old.scope); "
            "INSERT INTO memory_fts(rowid, text, scope) VALUES (new.id, new.text, new.scope); END"
        )
        op.execute("CREATE VIRTUAL TABLE memory_fts_terms USING fts5vocab(memory_fts, 'row')")
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE memory_items ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute("CREATE INDEX ix_memory_tsv ON memory_items USING GIN (tsv)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS memory_fts_terms")
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS memory_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS memory_fts")
    op.drop_table("memory_items")
