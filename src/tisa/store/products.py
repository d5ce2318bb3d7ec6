"""Product versions as stored (drafts, released, received) and their lifecycle.

A product whose row sits on a damaged page of the table is never read as if whole: reading it
raises `Damaged` naming it, and `readable_listing` and `walk` read every other row and name the
ones they could not (see `tisa.store.salvage`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from tisa.domain.states import ProductState
from tisa.domain.terms import index_terms
from tisa.store import salvage, search
from tisa.store.tables import product_topics, products

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Any fixed number: PostgreSQL's lock that orders the writers of new versions (see
# `insert_product`).
_LISTING_LOCK = 0x7715_1157


@dataclass(frozen=True)
class ProductRow:
    """One stored product version."""

    product_id: str
    version: int
    originator: str
    classification: int
    precedence: str
    state: str
    body: dict[str, Any]
    manifest: str | None
    digest: str | None
    attestation: str | None
    consent: str | None
    author: str
    created_at: datetime
    released_at: datetime | None
    released_by: str | None
    received_from: str | None
    received_at: datetime | None
    recalled_at: datetime | None
    recall: str | None
    recall_reason: str | None
    listed_us: int


def _row(r: Any) -> ProductRow:
    return ProductRow(**{f: getattr(r, f) for f in ProductRow.__dataclass_fields__})


def get(conn: Connection, product_id: str, version: int) -> ProductRow | None:
    """One version, or None.

    Raises:
        Damaged: its row cannot be read (a damaged page).
    """
    with salvage.reading(f"product {product_id} v{version}", "products"):
        r = conn.execute(
            select(products).where(
                products.c.product_id == product_id, products.c.version == version
            )
        ).first()
        return None if r is None else _row(r)


def versions(conn: Connection, product_id: str) -> list[ProductRow]:
    """Every version held, oldest first.

    Raises:
        Damaged: a version's row cannot be read.
    """
    with salvage.reading(f"product {product_id}", "products"):
        rows = conn.execute(
            select(products).where(products.c.product_id == product_id).order_by(products.c.version)
        )
        return [_row(r) for r in rows]


def latest_version(conn: Connection, product_id: str) -> int | None:
    """The highest version held, or None.

    Raises:
        Damaged: the versions held cannot be read.
    """
    with salvage.reading(f"product {product_id}", "products"):
        value = conn.execute(
            select(func.max(products.c.version)).where(products.c.product_id == product_id)
        ).scalar()
    return None if value is None else int(value)


def latest(conn: Connection, product_id: str) -> ProductRow | None:
    """The highest version held, or None.

    Raises:
        Damaged: its row cannot be read.
    """
    number = latest_version(conn, product_id)
    return None if number is None else get(conn, product_id, number)


@dataclass(frozen=True)
class NewVersion:
    """A version as it is first stored: a draft of this node, or one received from a peer
    (with the envelope it came in)."""

    product_id: str
    version: int
    originator: str
    classification: int
    precedence: str
    title: str
    topics: list[str]
    state: ProductState
    body: dict[str, Any]
    author: str
    created_at: datetime
    manifest: str | None = None
    digest: str | None = None
    attestation: str | None = None
    consent: str | None = None
    received_from: str | None = None
    received_at: datetime | None = None


def micros(moment: datetime) -> int:
    """An aware time in whole µs since the epoch, exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def families(topics: Sequence[str]) -> set[str]:
    """Every topic and each of its prefixes: what a topic filter can name."""
    found: set[str] = set()
    for topic in topics:
        words = topic.split(".")
        found.update(".".join(words[: i + 1]) for i in range(len(words)))
    return found


def _index(conn: Connection, new_id: str, version: int, listed_us: int, **content: Any) -> None:
    rows = [
        {"product_id": new_id, "version": version, "family": f, "listed_us": listed_us}
        for f in sorted(families(content["topics"]))
    ]
    if rows:
        conn.execute(insert(product_topics), rows)
    search.put(conn, listed_us, index_terms(content["title"], str(content["body"].get("text", ""))))


def insert_product(conn: Connection, new: NewVersion) -> int:
    """Store a new version, listed after every version stored before it; its place in the
    inbox (`listed_us`).

    The inbox is read newest first from `listed_us`, and a walk through its pages stops at a
    horizon, so no version may be listed earlier than one already stored: on PostgreSQL the
    writers take turns (a transaction lock held to commit); SQLite has one writer anyway.
    The version the new one replaces as the newest is marked superseded in the same
    transaction; one that arrives after a later version was never the newest.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LISTING_LOCK})
    t = products.c
    last = conn.execute(select(func.max(t.listed_us))).scalar_one_or_none() or 0
    listed_us = max(micros(new.received_at or new.created_at), last + 1)
    later = conn.execute(
        select(t.version).where(t.product_id == new.product_id, t.version > new.version).limit(1)
    ).first()
    if later is None:
        conn.execute(
            update(products)
            .where(
                t.product_id == new.product_id,
                t.version < new.version,
                t.superseded_us.is_(None),
            )
            .values(superseded_us=listed_us)
        )
    conn.execute(
        insert(products),
        {
            **new.__dict__,
            "state": new.state.value,
            "listed_us": listed_us,
            "superseded_us": None if later is None else listed_us,
        },
    )
    _index(
        conn,
        new.product_id,
        new.version,
        listed_us,
        topics=new.topics,
        title=new.title,
        body=new.body,
    )
    return listed_us


def _version(product_id: str, version: int) -> Any:
    return (products.c.product_id == product_id) & (products.c.version == version)


def revise_draft(
    conn: Connection,
    product_id: str,
    version: int,
    *,
    classification: int,
    precedence: str,
    title: str,
    topics: list[str],
    body: dict[str, Any],
) -> bool:
    """Rewrite a draft's content in place; False (nothing changed) if it is no draft now."""
    changed = conn.execute(
        update(products)
        .where(_version(product_id, version), products.c.state == ProductState.DRAFT.value)
        .values(
            classification=classification,
            precedence=precedence,
            title=title,
            topics=topics,
            body=body,
        )
    )
    if not changed.rowcount:
        return False
    listed_us = conn.execute(select(products.c.listed_us).where(_version(product_id, version)))
    at = int(listed_us.scalar_one())
    conn.execute(delete(product_topics).where(_topics_of(product_id, version)))
    _index(conn, product_id, version, at, topics=topics, title=title, body=body)
    return True


def _topics_of(product_id: str, version: int) -> Any:
    return (product_topics.c.product_id == product_id) & (product_topics.c.version == version)


def mark_released(
    conn: Connection,
    product_id: str,
    version: int,
    *,
    manifest: str,
    digest: str,
    released_at: datetime,
    released_by: str,
) -> bool:
    """A draft signed and released; False (nothing changed) if it is no draft now."""
    changed = conn.execute(
        update(products)
        .where(_version(product_id, version), products.c.state == ProductState.DRAFT.value)
        .values(
            state=ProductState.RELEASED.value,
            manifest=manifest,
            digest=digest,
            released_at=released_at,
            released_by=released_by,
        )
    )
    return bool(changed.rowcount)


def mark_recalled(
    conn: Connection,
    product_id: str,
    version: int,
    *,
    recalled_at: datetime,
    recall: str | None,
    reason: str,
) -> bool:
    """A version recalled by its originator (`recall`: the signed recall); False if it was
    already."""
    changed = conn.execute(
        update(products)
        .where(_version(product_id, version), products.c.recalled_at.is_(None))
        .values(recalled_at=recalled_at, recall=recall, recall_reason=reason)
    )
    return bool(changed.rowcount)


def listing(
    conn: Connection,
    *,
    states: Sequence[str] | None = None,
    originator: str | None = None,
    limit: int = 200,
    before: datetime | None = None,
    since: datetime | None = None,
) -> list[ProductRow]:
    """The newest version of each product, newest first."""
    query = select(products).where(products.c.superseded_us.is_(None))
    if states:
        query = query.where(products.c.state.in_(states))
    if originator:
        query = query.where(products.c.originator == originator)
    if before is not None:
        query = query.where(products.c.created_at < before)
    if since is not None:
        query = query.where(products.c.created_at >= since)
    query = query.order_by(products.c.created_at.desc()).limit(limit)
    return [_row(r) for r in conn.execute(query)]


@dataclass(frozen=True)
class Unreadable:
    """A stored version whose row cannot be read, and why (`version` None: not even which)."""

    product_id: str | None
    version: int | None
    reason: str

    def __str__(self) -> str:
        if self.product_id is None:
            return f"products after the last one read cannot be listed ({self.reason})"
        return f"product {self.product_id} v{self.version} cannot be read ({self.reason})"


@dataclass(frozen=True)
class Listing:
    """What `readable_listing` could read, and the versions it could not."""

    rows: list[ProductRow]
    unreadable: list[Unreadable] = field(default_factory=list)


def walk(conn: Connection, *, batch: int = 500) -> Iterator[ProductRow | Unreadable]:
    """Every stored version in key order, each row read if it can be; a row on a damaged page
    comes as `Unreadable` naming it, and the walk goes on.

    Raises:
        SQLAlchemyError: the store failed otherwise (unreachable, locked).
    """
    key = [products.c.product_id, products.c.version]
    for found in salvage.rows(conn, products, key, batch=batch):
        if isinstance(found, salvage.Unreadable):
            if found.key is None:
                yield Unreadable(None, None, found.reason)
            else:
                yield Unreadable(str(found.key[0]), int(found.key[1]), found.reason)
            continue
        try:
            yield _row(found)
        except ValueError as exc:  # a value its column's type cannot decode
            yield Unreadable(found.product_id, found.version, salvage.why(exc))


def readable_listing(
    conn: Connection,
    *,
    states: Sequence[str] | None = None,
    originator: str | None = None,
    limit: int = 200,
    before: datetime | None = None,
    since: datetime | None = None,
) -> Listing:
    """`listing`, even when part of the table is damaged: then every row is read on its own
    (slow, but only while damage lasts), and a product whose newest version cannot be read is
    named in `unreadable`, never shown as an older version instead.

    Raises:
        SQLAlchemyError: the store failed otherwise (unreachable, locked).
    """
    try:
        with conn.begin_nested():
            return Listing(
                listing(
                    conn,
                    states=states,
                    originator=originator,
                    limit=limit,
                    before=before,
                    since=since,
                )
            )
    except (SQLAlchemyError, ValueError) as exc:
        if not salvage.is_damage(exc):
            raise
    newest: dict[str, ProductRow | Unreadable] = {}
    lost: list[Unreadable] = []
    for found in walk(conn):
        if found.product_id is None:
            lost.append(found)  # only an Unreadable lacks an id
            continue
        held = newest.get(found.product_id)
        if held is None or (found.version or 0) > (held.version or 0):
            newest[found.product_id] = found
    rows = [
        r
        for r in newest.values()
        if isinstance(r, ProductRow)
        and (not states or r.state in states)
        and (originator is None or r.originator == originator)
        and (before is None or r.created_at < before)
        and (since is None or r.created_at >= since)
    ]
    rows.sort(key=lambda r: r.created_at, reverse=True)
    unreadable = [u for u in newest.values() if isinstance(u, Unreadable)] + lost
    return Listing(rows[:limit], unreadable)


def in_states(conn: Connection, states: Sequence[str]) -> list[ProductRow]:
    """Every stored version in one of `states`, by product and version."""
    query = (
        select(products)
        .where(products.c.state.in_(list(states)))
        .order_by(products.c.product_id, products.c.version)
    )
    return [_row(r) for r in conn.execute(query)]


def count(conn: Connection, *, state: str | None = None) -> int:
    """How many product versions are held."""
    query = select(func.count()).select_from(products)
    if state:
        query = query.where(products.c.state == state)
    return int(conn.execute(query).scalar_one())


def holdings_mark(conn: Connection) -> tuple[Any, ...]:
    """A cheap mark that changes whenever any version is added, released, received or
    recalled: the row count and the latest of each of those times."""
    t = products.c
    query = select(
        func.count(),
        func.max(t.created_at),
        func.max(t.released_at),
        func.max(t.received_at),
        func.max(t.recalled_at),
    ).select_from(products)
    return tuple(conn.execute(query).one())


def get_many(
    conn: Connection, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], ProductRow]:
    """The versions held of these (product id, version) keys, in one query.

    Raises:
        Damaged: a row cannot be read (a damaged page).
    """
    if not keys:
        return {}
    wanted = sorted(set(keys))
    ids = sorted({product_id for product_id, _ in wanted})
    with salvage.reading(f"{len(wanted)} product versions", "products"):
        found = conn.execute(select(products).where(products.c.product_id.in_(ids)))
        rows = [_row(r) for r in found]
    return {(r.product_id, r.version): r for r in rows if (r.product_id, r.version) in wanted}
