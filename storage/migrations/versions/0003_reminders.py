"""Reminders and delivery: reminders, outbox rate-limit and dead-letter columns.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot change a column's nullability in place.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("dead_at", UtcDateTime))
        batch.alter_column("not_before", existing_type=UtcDateTime, nullable=True)
    op.create_index("outbox_chat_order", "outbox", ["platform", "chat_id", "state", "id"])
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("follow_up", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("remind_at", UtcDateTime, nullable=False),
        sa.Column("fire_at", UtcDateTime, nullable=False),
        sa.Column("rounds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fired_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("case_id", "item_id", "follow_up", name="one_reminder_per_follow_up"),
    )
    op.create_index("reminders_due", "reminders", ["state", "fire_at"])
    op.create_table(
        "reminder_prefs",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("quiet_hours", sa.Boolean, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reminder_prefs")
    op.drop_table("reminders")
    op.drop_index("outbox_chat_order", table_name="outbox")
    op.execute("UPDATE outbox SET not_before = created_at WHERE not_before IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("not_before", existing_type=UtcDateTime, nullable=False)
        batch.drop_column("dead_at")
