"""The gate's state: revocations and recalls every node keeps (even for what it never held),
and the consent an outgoing relay cites, so a revocation finds what it must cancel.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.Column("originator", sa.String(length=3), nullable=False),
        sa.Column("recipient", sa.String(length=3), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consent_id"),
    )
    op.create_table(
        "recalls",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("originator", sa.String(length=3), nullable=False),
        sa.Column("recalled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "version"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("consent_id", sa.String(length=36), nullable=True))
        # 'cancelled' does not fit the old width.
        batch.alter_column("state", existing_type=sa.String(length=8), type_=sa.String(length=10))
        batch.create_index("ix_outbox_product", ["product_id", "version"])
        batch.create_index("ix_outbox_consent", ["consent_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_consent")
        batch.drop_index("ix_outbox_product")
        batch.alter_column("state", existing_type=sa.String(length=10), type_=sa.String(length=8))
        batch.drop_column("consent_id")
    op.drop_table("recalls")
    op.drop_table("revocations")
