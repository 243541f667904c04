"""Which other language a case has been offered, so the offer is made once.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("language_offered", sa.String(16), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("language_offered")
