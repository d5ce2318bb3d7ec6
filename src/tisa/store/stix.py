"""The STIX feed's index: which STIX object versions this node holds, in the order it added them.

Rows name objects, not their content: the objects are drawn from the product they belong to
when a reader asks, after the gate has let that reader see the product version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, insert, or_, select, text

from tisa.store.tables import stix_objects, taxii_statuses

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Any fixed number: PostgreSQL's lock that orders the feed's writers (see `add`).
_FEED_LOCK = 0x7715_5717


@dataclass(frozen=True)
class Entry:
    """One STIX object version: its id, type, version timestamp as written in the object
    (`modified`, or `created` for an object that has no versions) and that time in µs."""

    object_id: str
    object_type: str
    version: str
    version_us: int


@dataclass(frozen=True)
class Owner:
    """The product version a set of entries belongs to (None for the node's common objects:
    the parties' identities, tisa's extension definitions); `revoked` for the objects of its
    recall, `reissued` for its report standing again after a later version's recall."""

    product_id: str | None = None
    product_version: int | None = None
    revoked: bool = False
    reissued: bool = False
    flash: bool = False
    families: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedRow:
    """One row of the feed as stored."""

    seq: int
    added_us: int
    object_id: str
    object_type: str
    version: str
    version_us: int
    product_id: str | None
    product_version: int | None
    revoked: bool
    reissued: bool

    @property
    def product(self) -> tuple[str, int] | None:
        """The product version the object belongs to; None for a common object."""
        if self.product_id is None or self.product_version is None:
            return None
        return self.product_id, self.product_version


@dataclass(frozen=True)
class Query:
    """Which rows a TAXII request asks for, before the gate: after a position in the feed,
    added after a time, of some types or ids, in a collection (FLASH only, one topic family)."""

    after_seq: int = 0
    added_after_us: int | None = None
    types: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    flash: bool = False
    family: str | None = None


def micros(moment: datetime) -> int:
    """An aware time in whole µs since the epoch, exactly (no float on the way)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def add(conn: Connection, entries: Sequence[Entry], owner: Owner, now: datetime) -> None:
    """Add `entries` to the feed, each added strictly after every row before it (so the
    feed's order, `seq`, is also the order of its times).

    Readers poll with `added_after` the last time they saw, so no row may become visible
    with an earlier time than one already read: on PostgreSQL the writers take turns (a
    transaction lock held to commit); SQLite has one writer anyway.
    """
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK})
    last = conn.execute(select(func.max(stix_objects.c.added_us))).scalar_one_or_none() or 0
    start = max(micros(now), last + 1)
    families = "".join(f",{f}" for f in owner.families) + ("," if owner.families else "")
    conn.execute(
        insert(stix_objects),
        [
            {
                "added_us": start + i,
                "object_id": e.object_id,
                "object_type": e.object_type,
                "version": e.version,
                "version_us": e.version_us,
                "product_id": owner.product_id,
                "product_version": owner.product_version,
                "revoked": owner.revoked,
                "reissued": owner.reissued,
                "flash": owner.flash,
                "families": families,
            }
            for i, e in enumerate(entries)
        ],
    )


def _row(r: Any) -> FeedRow:
    return FeedRow(**r._mapping)


def _in_collection(stmt: Select[Any], query: Query) -> Select[Any]:
    t = stix_objects.c
    if query.flash:
        # Common objects belong to every collection: a reader of FLASH needs the identities.
        stmt = stmt.where(or_(t.flash.is_(True), t.product_id.is_(None)))
    if query.family is not None:
        stmt = stmt.where(or_(t.families.contains(f",{query.family},"), t.product_id.is_(None)))
    return stmt


def _rows() -> Select[Any]:
    return select(*(getattr(stix_objects.c, f) for f in FeedRow.__dataclass_fields__))


def page(conn: Connection, query: Query, limit: int) -> list[FeedRow]:
    """Up to `limit` rows matching `query` after its position, in feed order."""
    return [_row(r) for r in conn.execute(page_statement(conn, query, limit))]


def page_statement(conn: Connection, query: Query, limit: int) -> Select[Any]:
    """The statement `page` runs (a benchmark explains it)."""
    t = stix_objects.c
    # Rows are added in seq order with rising times (see `add`), so the feed's order is its
    # times' order and a position is a time: the page reads on the time indexes from there
    # ((type, time) for a type filter) and stops at `limit`, instead of walking seq from the
    # feed's start and dropping every row before the position or of another type.
    floor = query.added_after_us
    if query.after_seq:
        at = conn.execute(select(t.added_us).where(t.seq == query.after_seq)).scalar_one_or_none()
        if at is not None:
            floor = at if floor is None else max(floor, at)
    stmt = _rows().where(t.seq > query.after_seq)
    if floor is not None:
        stmt = stmt.where(t.added_us > floor)
    if query.types:
        stmt = stmt.where(t.object_type.in_(sorted(query.types)))
    if query.ids:
        stmt = stmt.where(t.object_id.in_(sorted(query.ids)))
    return _in_collection(stmt, query).order_by(t.added_us).limit(limit)


@dataclass(frozen=True)
class Held:
    """One version of an object in a collection and where it first entered the feed (an
    object several products refer to, a marking, has a row for each)."""

    version_us: int
    first_seq: int


def versions_held(
    conn: Connection, object_ids: Sequence[str], query: Query
) -> dict[str, list[Held]]:
    """The versions of these objects in the query's collection, oldest first, whatever
    else the query asks."""
    if not object_ids:
        return {}
    t = stix_objects.c
    stmt = (
        select(t.object_id, t.version_us, func.min(t.seq))
        .where(t.object_id.in_(sorted(set(object_ids))))
        .group_by(t.object_id, t.version_us)
        .order_by(t.object_id, t.version_us)
    )
    found: dict[str, list[Held]] = {}
    for object_id, version_us, first_seq in conn.execute(_in_collection(stmt, query)):
        found.setdefault(object_id, []).append(Held(version_us, first_seq))
    return found


def rows_of(
    conn: Connection, object_id: str, version_us: int, query: Query, *, limit: int
) -> list[FeedRow]:
    """The first `limit` rows of one object version in the query's collection, in feed order."""
    t = stix_objects.c
    stmt = _rows().where(t.object_id == object_id, t.version_us == version_us)
    stmt = _in_collection(stmt, query)
    return [_row(r) for r in conn.execute(stmt.order_by(t.seq).limit(limit))]


def has_common(conn: Connection) -> bool:
    """Whether the node's common objects are in the feed yet."""
    t = stix_objects.c
    found = conn.execute(select(t.seq).where(t.product_id.is_(None)).limit(1)).first()
    return found is not None


def has_products(conn: Connection) -> bool:
    """Whether any product's objects are in the feed."""
    t = stix_objects.c
    found = conn.execute(select(t.seq).where(t.product_id.is_not(None)).limit(1)).first()
    return found is not None


def indexed(conn: Connection, product_id: str, version: int) -> bool:
    """Whether a product version is in the feed already (its recall aside)."""
    t = stix_objects.c
    found = conn.execute(
        select(t.seq)
        .where(
            t.product_id == product_id,
            t.product_version == version,
            t.revoked.is_(False),
            t.reissued.is_(False),
        )
        .limit(1)
    ).first()
    return found is not None


def recall_indexed(conn: Connection, product_id: str, version_us: int) -> bool:
    """Whether a recall made at `version_us` of one of the product's versions is in the feed."""
    t = stix_objects.c
    found = conn.execute(
        select(t.seq)
        .where(
            t.product_id == product_id,
            t.version_us == version_us,
            or_(t.revoked.is_(True), t.reissued.is_(True)),
        )
        .limit(1)
    ).first()
    return found is not None


def save_status(
    conn: Connection, status_id: str, owner: str, body: dict[str, Any], now: datetime
) -> None:
    """Keep the status of one posted bundle, for its poster to ask after."""
    conn.execute(
        insert(taxii_statuses).values(id=status_id, owner=owner, body=body, created_at=now)
    )


def status(conn: Connection, status_id: str) -> tuple[str, dict[str, Any]] | None:
    """(owner, status body) of a posted bundle, or None."""
    t = taxii_statuses.c
    found = conn.execute(select(t.owner, t.body).where(t.id == status_id)).first()
    return None if found is None else (found.owner, dict(found.body))
