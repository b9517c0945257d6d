"""The syscall journal that resumes interrupted programs, what a process runs, and the daemon's tokens.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processes") as batch:
        batch.add_column(sa.Column("entry", sa.String(500), nullable=True))
        batch.add_column(sa.Column("isolated", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "syscall_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("outcome", sa.JSON, nullable=False),
        sa.UniqueConstraint("pid", "seq", name="uq_syscall_journal_pid_seq"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("syscall_journal")
    with op.batch_alter_table("processes") as batch:
        batch.drop_column("isolated")
        batch.drop_column("entry")
