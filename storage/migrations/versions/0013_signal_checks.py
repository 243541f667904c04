"""Direct questions about danger signals: what a case is being asked, and its timer rows.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from storage.schema import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("asking", sa.String(32), nullable=False, server_default=""))
    op.create_table(
        "signal_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("signal", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("asked_at", UtcDateTime, nullable=False),
        sa.Column("alert_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("signal_checks_due", "signal_checks", ["state", "alert_at"])
    op.create_index("signal_checks_of_case", "signal_checks", ["case_id", "state"])


def downgrade() -> None:
    op.drop_index("signal_checks_of_case", "signal_checks")
    op.drop_index("signal_checks_due", "signal_checks")
    op.drop_table("signal_checks")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("asking")
