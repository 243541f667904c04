"""Signed tree heads as C2SP checkpoints, and their RFC 3161 timestamps.

``tree_heads.checkpoint`` holds the head as a signed checkpoint note (storage/tlog.py);
heads signed before it have none, and keep verifying as before. ``head_timestamps`` has
one row per head and time-stamping authority: written when the head is signed, before
any network call, and filled with the authority's token once it answers — so a TSA that
is down delays a timestamp, never loses one (bot/evidence/stamping.py).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tree_heads") as batch:
        batch.add_column(sa.Column("checkpoint", sa.Text))
    op.create_table(
        "head_timestamps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("head_id", sa.Integer, sa.ForeignKey("tree_heads.id"), nullable=False),
        sa.Column("tsa_url", sa.String(512), nullable=False),
        sa.Column("token", sa.LargeBinary),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("stamped_at", UtcDateTime),
        sa.UniqueConstraint("head_id", "tsa_url", name="one_timestamp_per_head_and_tsa"),
    )
    op.create_index("head_timestamps_waiting", "head_timestamps", ["stamped_at", "next_at"])


def downgrade() -> None:
    op.drop_index("head_timestamps_waiting", "head_timestamps")
    op.drop_table("head_timestamps")
    with op.batch_alter_table("tree_heads") as batch:
        batch.drop_column("checkpoint")
