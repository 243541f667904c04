"""A staff member talking with the victim: conversations, what was said (sealed), the
names staff show victims, and an index to find the case a staff reply answers.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_OPEN = "state = 'open'"


def upgrade() -> None:
    op.create_table(
        "talks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("staff", sa.String(160), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("waiting_since", UtcDateTime),
        sa.Column("answer_due_at", UtcDateTime),
        sa.Column("ended_at", UtcDateTime),
        sa.Column("ended_by", sa.String(160), nullable=False, server_default=""),
    )
    op.create_index(
        "one_open_talk_per_case",
        "talks",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )
    op.create_index("talks_due", "talks", ["state", "answer_due_at"])
    op.create_index("talks_by_staff", "talks", ["staff", "state"])
    op.create_table(
        "talk_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("talk_id", sa.Integer, sa.ForeignKey("talks.id"), nullable=False),
        sa.Column("message_no", sa.Integer, nullable=False),
        sa.Column("author", sa.String(160), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("leaf_index", sa.Integer, sa.ForeignKey("ledger_leaves.leaf_index")),
        sa.UniqueConstraint("case_id", "message_no", name="talk_message_no"),
    )
    op.create_table(
        "staff_names",
        sa.Column("actor", sa.String(160), primary_key=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index(
        "outbox_by_platform_message", "outbox", ["platform", "chat_id", "platform_message_id"]
    )


def downgrade() -> None:
    op.drop_index("outbox_by_platform_message", table_name="outbox")
    for table in ("staff_names", "talk_messages", "talks"):
        op.drop_table(table)
