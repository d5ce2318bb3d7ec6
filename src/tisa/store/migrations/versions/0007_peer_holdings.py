"""What each peer last said it holds of this node's checkpoints, and when.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peer_holdings",
        sa.Column("peer", sa.String(length=3), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("peer"),
    )


def downgrade() -> None:
    op.drop_table("peer_holdings")
