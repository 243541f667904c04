"""The intake journal: inbound evidence events kept before their files are fetched.

Revision ID: 0014
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0014"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("platform", "chat_id", "message_id", name="intake_journal_once"),
    )


def downgrade() -> None:
    op.drop_table("intake_journal")
