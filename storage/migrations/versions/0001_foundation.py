"""Foundation: cases, answers, checklist state, message log, outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
        sa.Column("alerted_reasons", sa.Text, nullable=False, server_default="[]"),
        sa.Column("question_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("changing", sa.String(64), nullable=False, server_default=""),
        sa.Column("pending_multi", sa.Text, nullable=False, server_default="[]"),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("prompt_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime),
    )
    op.create_index(
        "one_open_case_per_victim",
        "cases",
        ["platform", "user_id"],
        unique=True,
        sqlite_where=sa.text("status != 'closed'"),
        postgresql_where=sa.text("status != 'closed'"),
    )
    op.create_table(
        "answers",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("question_id", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("answered_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "checklist",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("item_id", sa.String(64), primary_key=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "message_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("platform_message_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index(
        "inbound_once",
        "message_log",
        ["platform", "chat_id", "platform_message_id"],
        unique=True,
        sqlite_where=sa.text("direction = 'in' AND platform_message_id != ''"),
        postgresql_where=sa.text("direction = 'in' AND platform_message_id != ''"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("not_before", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("platform_message_id", sa.String(128), nullable=False, server_default=""),
    )
    op.create_index("outbox_pending", "outbox", ["state", "platform", "id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("message_log")
    op.drop_table("checklist")
    op.drop_table("answers")
    op.drop_table("cases")
