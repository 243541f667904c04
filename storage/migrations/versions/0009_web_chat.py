"""The web chat: chats found again by a recovery code's hash, and what Haven said to them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_chats",
        sa.Column("chat_id", sa.String(64), primary_key=True),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("passphrase", sa.Text, nullable=False, server_default=""),
        sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "web_mailbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(64), sa.ForeignKey("web_chats.chat_id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("web_mailbox_by_chat", "web_mailbox", ["chat_id", "id"])


def downgrade() -> None:
    op.drop_index("web_mailbox_by_chat", "web_mailbox")
    op.drop_table("web_mailbox")
    op.drop_table("web_chats")
