"""The inbox as the store reads it: the newest version of each product, newest first
(`listed_us`, unique and rising), narrowed by filters and search terms, a page at a time.

A walk through the pages keeps a horizon, the newest `listed_us` when it began: every later
page reads each product as it stood then (the version listed at or before the horizon and not
superseded by then). A product that arrives, or gains a version, during the walk is left to the
next walk, and none is skipped or repeated because another moved above or below the position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, exists, func, or_, select

from tisa.store import search
from tisa.store.products import ProductRow, _row
from tisa.store.tables import product_topics, products, reads


@dataclass(frozen=True)
class Filters:
    """What an inbox query narrows to, before the gate. Empty fields narrow nothing;
    `family` is a topic or a prefix of one ('dprk.missile'), `terms` must all be found
    (`tisa.domain.terms.query_terms`), `unread_by` a username."""

    states: tuple[str, ...] = ()
    originator: str | None = None
    classification: int | None = None
    precedence: str | None = None
    family: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    unread_by: str | None = None
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Position:
    """Where a walk stands: its horizon and the last version examined (`after_us`)."""

    horizon_us: int
    after_us: int


def horizon(conn: Connection) -> int:
    """The newest `listed_us` held (0 when nothing is): where a new walk begins."""
    found = conn.execute(select(func.max(products.c.listed_us))).scalar_one_or_none()
    return int(found or 0)


def page(conn: Connection, filters: Filters, at: Position, limit: int) -> list[ProductRow]:
    """Up to `limit` versions matching `filters` after `at`, newest first.

    Raises:
        SQLAlchemyError: the store failed (unreachable, locked, a damaged page).
    """
    return [_row(r) for r in conn.execute(page_statement(conn, filters, at, limit))]


def page_statement(conn: Connection, filters: Filters, at: Position, limit: int) -> Select[Any]:
    """The statement `page` runs (a benchmark explains it)."""
    t = products.c
    stmt = select(products)
    listed = t.listed_us
    if filters.family is not None:
        # The family's index gives the order; each row joins its version by primary key.
        f = product_topics.c
        stmt = stmt.join(
            product_topics, and_(f.product_id == t.product_id, f.version == t.version)
        ).where(f.family == filters.family)
        listed = f.listed_us
    upper = min(at.after_us - 1, at.horizon_us)
    stmt = stmt.where(
        listed <= upper,
        or_(t.superseded_us.is_(None), t.superseded_us > at.horizon_us),
    )
    if filters.states:
        stmt = stmt.where(t.state.in_(filters.states))
    if filters.originator is not None:
        stmt = stmt.where(t.originator == filters.originator)
    if filters.classification is not None:
        stmt = stmt.where(t.classification == filters.classification)
    if filters.precedence is not None:
        stmt = stmt.where(t.precedence == filters.precedence)
    if filters.since_us is not None:
        stmt = stmt.where(listed >= filters.since_us)
    if filters.until_us is not None:
        stmt = stmt.where(listed < filters.until_us)
    if filters.unread_by is not None:
        r = reads.c
        stmt = stmt.where(
            ~exists().where(
                r.username == filters.unread_by,
                r.product_id == t.product_id,
                r.version == t.version,
            )
        )
    if filters.terms:
        stmt = stmt.where(search.matching(conn, t.listed_us, filters.terms))
    return stmt.order_by(listed.desc()).limit(limit)
