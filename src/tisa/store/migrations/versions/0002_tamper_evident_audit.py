"""Tamper-evident audit: a hash-chained, append-only log, its head, and checkpoints.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:00:00

Entries of the old plain log are carried over, oldest first, and chained as they go.
"""

import hashlib
import json
from datetime import UTC

import rfc8785
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = ("audit_entries", "checkpoints")


def upgrade() -> None:
    entries = op.create_table(
        "audit_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("party", sa.String(length=3), nullable=True),
        sa.Column("product_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_entries_product", "audit_entries", ["product_id"])
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("issuer", sa.String(length=3), nullable=False),
        sa.Column("size", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "size"),
    )

    bind = op.get_bind()
    old = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("party", sa.String()),
        sa.column("product_id", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("detail", sa.JSON()),
    )
    prev, seq = GENESIS, 0
    for row in bind.execute(sa.select(old).order_by(old.c.id)):
        seq += 1
        detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail or "{}")
        at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at.astimezone(UTC)
        fields = {
            "seq": seq,
            "at": at.isoformat(),
            "actor": row.actor,
            "action": row.action,
            "party": row.party,
            "product_id": row.product_id,
            "version": row.version,
            "detail": detail,
            "prev": prev,
        }
        digest = hashlib.sha256(rfc8785.dumps(fields)).hexdigest()
        bind.execute(
            entries.insert().values(
                seq=seq,
                at=at,
                actor=row.actor,
                action=row.action,
                party=row.party,
                product_id=row.product_id,
                version=row.version,
                detail=detail,
                prev_hash=prev,
                entry_hash=digest,
            )
        )
        prev = digest
    bind.execute(head.insert().values(id=1, size=seq, head=prev))
    op.drop_index("ix_audit_product", table_name="audit_log")
    op.drop_table("audit_log")

    # The application never updates or deletes these; the database refuses it too.
    for table in APPEND_ONLY:
        if bind.dialect.name == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        else:
            op.execute(
                f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
                f"RAISE EXCEPTION '{table} is append-only'; END $$ LANGUAGE plpgsql"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            )


def downgrade() -> None:
    raise NotImplementedError("the audit chain is not unwound")
