"""Attachments: uploads at this node and the blobs each product version names.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("original_digest", sa.String(length=71), nullable=False),
        sa.Column("preview_digest", sa.String(length=71), nullable=True),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "product_attachments",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("preview_digest", sa.String(length=71), nullable=True),
        sa.PrimaryKeyConstraint("product_id", "version", "digest"),
    )
    op.create_index("ix_product_attachments_digest", "product_attachments", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_product_attachments_digest", table_name="product_attachments")
    op.drop_table("product_attachments")
    op.drop_table("uploads")
