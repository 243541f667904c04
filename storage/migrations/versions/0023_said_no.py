"""Cases remember when the person said no to a direct question (issue 15).

A "no" to "Are you thinking about ending your life?" was not kept, so the next message
the classifier was unsure of asked the same question again. Existing cases start with
nothing said.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("said_no", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("said_no")
