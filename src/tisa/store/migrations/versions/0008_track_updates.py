"""The history of live track updates: every update a node made or received, as signed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("originator", sa.String(length=3), nullable=False),
        sa.Column("track_id", sa.String(length=100), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("classification", sa.Integer(), nullable=False),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("attestation", sa.Text(), nullable=True),
        sa.Column("consent", sa.Text(), nullable=True),
        sa.Column("received_from", sa.String(length=3), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("originator", "track_id", "time_ms", name="uq_track_updates_time"),
    )
    op.create_index("ix_track_updates_time", "track_updates", ["time_ms"])


def downgrade() -> None:
    op.drop_index("ix_track_updates_time", table_name="track_updates")
    op.drop_table("track_updates")
