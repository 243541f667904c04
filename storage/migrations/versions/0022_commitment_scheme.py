"""Evidence items record how their content commitment was made (issue 21).

Rows kept before this revision get scheme 1, SHA-256(salt || content), which is what
their log leaves hold; intake writes scheme 2 from now on (storage/leaves.py).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_items") as batch:
        batch.add_column(
            sa.Column("commitment_scheme", sa.SmallInteger, nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_items") as batch:
        batch.drop_column("commitment_scheme")
