"""Why a call needs a human, and the driver's dry run of it, kept with the approval request.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("why", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("preview", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("preview")
        batch.drop_column("why")
