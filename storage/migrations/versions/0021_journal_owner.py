"""The intake journal names the instance that journaled each event.

With several instances on PostgreSQL, an instance replays only the events of instances
that are gone (bot/conversation/intake_journal.py), not those another live instance is
handling right now. Rows from before this revision have no owner: the first instance
to start takes them over.

Revision ID: 0021
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intake_journal") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_journal") as batch:
        batch.drop_column("owner")
