"""Web Push subscriptions of web chats, and the notifications owed to them.

Revision ID: 0020
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0020"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_push_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(64), sa.ForeignKey("web_chats.chat_id"), nullable=False),
        sa.Column("endpoint", sa.String(1024), nullable=False),
        sa.Column("p256dh", sa.String(128), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("chat_id", "endpoint", name="web_push_one_per_browser"),
    )
    op.create_index("web_push_due", "web_push_subscriptions", ["due_at"])


def downgrade() -> None:
    op.drop_index("web_push_due", "web_push_subscriptions")
    op.drop_table("web_push_subscriptions")
