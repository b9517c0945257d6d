"""KV cache state of each process.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processes") as batch:
        batch.add_column(sa.Column("kv_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("kv_tokens", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("kv_host_bytes", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("processes") as batch:
        batch.drop_column("kv_host_bytes")
        batch.drop_column("kv_tokens")
        batch.drop_column("kv_state")
