"""The victim's notes for the incident timeline.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("note_no", sa.Integer, nullable=False),
        sa.Column("written_at", UtcDateTime, nullable=False),
        sa.Column("happened_at", UtcDateTime),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("items", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("case_id", "note_no", name="case_note_no"),
    )


def downgrade() -> None:
    op.drop_table("case_notes")
