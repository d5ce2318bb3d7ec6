"""The STIX feed behind the TAXII server, and the status of each bundle posted to it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stix_objects",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("version_us", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=True),
        sa.Column("product_version", sa.Integer(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("reissued", sa.Boolean(), nullable=False),
        sa.Column("flash", sa.Boolean(), nullable=False),
        sa.Column("families", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_stix_objects_added", "stix_objects", ["added_us"])
    op.create_index("ix_stix_objects_type", "stix_objects", ["object_type", "added_us"])
    op.create_index("ix_stix_objects_id", "stix_objects", ["object_id", "version_us"])
    op.create_index("ix_stix_objects_product", "stix_objects", ["product_id", "product_version"])
    op.create_table(
        "taxii_statuses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("taxii_statuses")
    for name in ("product", "id", "type", "added"):
        op.drop_index(f"ix_stix_objects_{name}", table_name="stix_objects")
    op.drop_table("stix_objects")
