"""Evidence edits and deletions: which message carried an item, and which item an edit
replaces.

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
    with op.batch_alter_table("evidence_items") as batch:
        batch.add_column(
            sa.Column("source_message_id", sa.String(128), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("edit_of", sa.Integer))
    op.create_index(
        "evidence_by_source_message", "evidence_items", ["case_id", "source_message_id"]
    )


def downgrade() -> None:
    op.drop_index("evidence_by_source_message", "evidence_items")
    with op.batch_alter_table("evidence_items") as batch:
        batch.drop_column("edit_of")
        batch.drop_column("source_message_id")
