"""The staff side: escalations and alerts, case handling, notes, retrievals, briefings,
victims' opt-ins to daily progress notes.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OPEN = "state = 'open'"


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rounds", sa.Integer, nullable=False, server_default="1"),
        sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
        sa.Column("next_at", UtcDateTime),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("closed_by", sa.String(160), nullable=False, server_default=""),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index(
        "one_open_escalation_per_case",
        "escalations",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )
    op.create_index("escalations_due", "escalations", ["state", "next_at"])
    op.create_table(
        "escalation_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("escalation_id", sa.Integer, sa.ForeignKey("escalations.id"), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("outbox_id", sa.Integer, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("alerts_of_escalation", "escalation_alerts", ["escalation_id"])
    op.create_table(
        "case_handling",
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("cases.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("assignee", sa.String(160), nullable=False, server_default=""),
        sa.Column("assigned_by", sa.String(160), nullable=False, server_default=""),
        sa.Column("assigned_at", UtcDateTime),
        sa.Column("resolved_by", sa.String(160), nullable=False, server_default=""),
        sa.Column("resolved_at", UtcDateTime),
    )
    op.create_table(
        "staff_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("author", sa.String(160), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column(
            "leaf_index",
            sa.Integer,
            sa.ForeignKey("ledger_leaves.leaf_index"),
            nullable=False,
        ),
    )
    op.create_index("notes_by_case", "staff_notes", ["case_id", "id"])
    op.create_table(
        "retrievals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("requester", sa.String(160), nullable=False),
        sa.Column("window_start", UtcDateTime, nullable=False),
        sa.Column("window_end", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("approved_by", sa.String(160), nullable=False, server_default=""),
        sa.Column("approved_at", UtcDateTime),
        sa.Column("delivered_at", UtcDateTime),
    )
    op.create_table(
        "briefings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("posted_at", UtcDateTime),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.UniqueConstraint("due_at", name="one_briefing_per_moment"),
    )
    op.create_table(
        "progress_optins",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("opted_in", sa.Boolean, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("evidence_by_received", "evidence_items", ["received_at"])
    op.create_index("reminders_by_fired", "reminders", ["fired_at"])
    op.create_index("reminders_open_by_time", "reminders", ["state", "remind_at"])
    op.create_index("cases_by_created", "cases", ["created_at"])


def downgrade() -> None:
    op.drop_index("cases_by_created", table_name="cases")
    op.drop_index("reminders_open_by_time", table_name="reminders")
    op.drop_index("reminders_by_fired", table_name="reminders")
    op.drop_index("evidence_by_received", table_name="evidence_items")
    for table in (
        "progress_optins",
        "briefings",
        "retrievals",
        "staff_notes",
        "case_handling",
        "escalation_alerts",
        "escalations",
    ):
        op.drop_table(table)
