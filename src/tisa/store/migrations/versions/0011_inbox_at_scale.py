"""The inbox at scale: each version's place in the inbox (`listed_us`, strictly rising) and
when a later version took over (`superseded_us`), so the newest version of each product is read
from an index instead of grouped out of every version; indexes for each filter in that order;
the topic families of each version (a topic filter is a prefix family); and the terms each
version is found by (SQLite FTS5; a tsvector with a GIN index on PostgreSQL).

Existing rows are backfilled: listed in the order they arrived (received, else created),
superseded by the first later version that arrived.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 18:00:00
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from tisa.domain.terms import index_terms

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INDEXES = ("originator", "classification", "precedence", "state")


def _micros(moment: Any) -> int:
    if isinstance(moment, str):  # SQLite hands back text
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int((moment - _EPOCH) // timedelta(microseconds=1))


def _families(topics: list[str]) -> set[str]:
    found: set[str] = set()
    for topic in topics:
        words = topic.split(".")
        found.update(".".join(words[: i + 1]) for i in range(len(words)))
    return found


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # SQLite: text


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("listed_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("superseded_us", sa.BigInteger(), nullable=True))
    op.create_table(
        "product_topics",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("listed_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "version", "family"),
    )
    if postgres:
        op.execute(
            "CREATE TABLE product_terms (listed_us BIGINT PRIMARY KEY, terms TSVECTOR NOT NULL)"
        )
    else:
        # Terms are made in Python and joined by spaces; 'ascii' keeps each one whole.
        op.execute("CREATE VIRTUAL TABLE product_terms USING fts5(terms, tokenize='ascii')")

    rows = bind.execute(
        sa.text(
            "SELECT product_id, version, topics, title, body, created_at, received_at FROM products"
        )
    ).all()
    arrived = sorted(
        rows, key=lambda r: (_micros(r.received_at or r.created_at), r.product_id, r.version)
    )
    listed: dict[tuple[str, int], int] = {}
    last = 0
    for r in arrived:
        last = max(_micros(r.received_at or r.created_at), last + 1)
        listed[(r.product_id, r.version)] = last
    by_product: dict[str, list[tuple[int, int]]] = {}
    for (product_id, version), us in listed.items():
        by_product.setdefault(product_id, []).append((version, us))
    updates: list[dict[str, Any]] = []
    topics: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for r in rows:
        at = listed[(r.product_id, r.version)]
        later = [us for v, us in by_product[r.product_id] if v > r.version]
        # A version that arrived after a later one was never the newest: superseded at once.
        superseded = None if not later else max(min(later), at)
        updates.append({"p": r.product_id, "v": r.version, "at": at, "sup": superseded})
        for family in sorted(_families(_json(r.topics))):
            topics.append(
                {"product_id": r.product_id, "version": r.version, "family": family, "at": at}
            )
        words = index_terms(r.title, str(_json(r.body).get("text", "")))
        terms.append({"id": at, "terms": words if postgres else " ".join(words)})
    if updates:
        bind.execute(
            sa.text(
                "UPDATE products SET listed_us = :at, superseded_us = :sup "
                "WHERE product_id = :p AND version = :v"
            ),
            updates,
        )
        bind.execute(
            sa.text(
                "INSERT INTO product_topics (product_id, version, family, listed_us) "
                "VALUES (:product_id, :version, :family, :at)"
            ),
            topics,
        )
        insert_terms = (
            "INSERT INTO product_terms (listed_us, terms) VALUES (:id, array_to_tsvector(:terms))"
            if postgres
            else "INSERT INTO product_terms (rowid, terms) VALUES (:id, :terms)"
        )
        bind.execute(sa.text(insert_terms), terms)

    with op.batch_alter_table("products") as batch:
        batch.alter_column("listed_us", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ux_products_listed", "products", ["listed_us"], unique=True)
    for column in _INDEXES:
        op.create_index(f"ix_products_{column}_listed", "products", [column, "listed_us"])
    op.create_index("ix_product_topics_family", "product_topics", ["family", "listed_us"])
    if postgres:
        op.execute("CREATE INDEX ix_product_terms_terms ON product_terms USING gin (terms)")


def downgrade() -> None:
    op.execute("DROP TABLE product_terms")
    op.drop_index("ix_product_topics_family", table_name="product_topics")
    op.drop_table("product_topics")
    for column in _INDEXES:
        op.drop_index(f"ix_products_{column}_listed", table_name="products")
    op.drop_index("ux_products_listed", table_name="products")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("superseded_us")
        batch.drop_column("listed_us")
