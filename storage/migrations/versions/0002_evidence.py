"""Evidence vault: items, Merkle ledger, custody events, case keys, holds.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_leaves",
        sa.Column("leaf_index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("node_index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tree_heads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.Integer, nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_index("tree_heads_by_size", "tree_heads", ["tree_size"])
    op.create_table(
        "case_keys",
        sa.Column(
            "case_id",
            sa.Integer,
            sa.ForeignKey("cases.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("erased_at", UtcDateTime),
    )
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("item_no", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("origin_kind", sa.String(16), nullable=False, server_default=""),
        sa.Column("origin_sender", sa.Text, nullable=False, server_default=""),
        sa.Column("origin_sender_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("origin_chat", sa.Text, nullable=False, server_default=""),
        sa.Column("origin_message_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("origin_signature", sa.Text, nullable=False, server_default=""),
        sa.Column("origin_link", sa.Text, nullable=False, server_default=""),
        sa.Column("original_date", UtcDateTime),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mime_type", sa.String(128), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("content_commitment", sa.String(64), nullable=False),
        sa.Column("origin_commitment", sa.String(64), nullable=False, server_default=""),
        sa.Column("blob", sa.String(64)),
        sa.Column("sealed", sa.LargeBinary),
        sa.Column(
            "leaf_index",
            sa.Integer,
            sa.ForeignKey("ledger_leaves.leaf_index"),
            nullable=False,
        ),
        sa.UniqueConstraint("case_id", "item_no", name="evidence_item_no"),
        sa.UniqueConstraint("leaf_index", name="evidence_leaf"),
    )
    op.create_index(
        "evidence_by_content", "evidence_items", ["case_id", "content_sha256"], unique=True
    )
    op.create_table(
        "custody_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("item_no", sa.Integer),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column(
            "leaf_index",
            sa.Integer,
            sa.ForeignKey("ledger_leaves.leaf_index"),
            nullable=False,
        ),
        sa.UniqueConstraint("leaf_index", name="custody_leaf"),
    )
    op.create_index("custody_by_case", "custody_events", ["case_id", "id"])
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("held_by", sa.String(160), nullable=False),
        sa.Column("held_at", UtcDateTime, nullable=False),
        sa.Column("released_by", sa.String(160), nullable=False, server_default=""),
        sa.Column("released_at", UtcDateTime),
    )
    op.create_index(
        "one_active_hold_per_case",
        "holds",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("released_at IS NULL"),
        postgresql_where=sa.text("released_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("holds")
    op.drop_table("custody_events")
    op.drop_table("evidence_items")
    op.drop_table("case_keys")
    op.drop_table("tree_heads")
    op.drop_table("ledger_nodes")
    op.drop_table("ledger_leaves")
