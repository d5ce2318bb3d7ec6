"""Adding stored product versions to the node's STIX feed, in the transaction that stores them.

A version enters the feed when it is signed and held here (released at its originator,
received elsewhere), and again as revoked when it is recalled; drafts never do. The feed
holds which objects, not what they say: readers get the objects drawn afresh from the
verified product, after the gate (tisa.services.taxii).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tisa.domain.arrangement import Arrangement
from tisa.domain.markings import Precedence
from tisa.domain.model import Product
from tisa.relay import routing
from tisa.stix import export
from tisa.stix.ids import timestamp
from tisa.store import products as stored
from tisa.store import stix
from tisa.store.tables import products


def moment(stamp: str) -> datetime:
    """The time of a STIX timestamp ('2026-12-01T08:30:00.123Z')."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def entries(objects: Iterable[Mapping[str, Any]]) -> list[stix.Entry]:
    """The feed entries of STIX objects: each versioned by `modified`, or by `created` when
    it has no versions."""
    out = []
    for obj in objects:
        version = str(obj.get("modified") or obj["created"])
        out.append(
            stix.Entry(str(obj["id"]), str(obj["type"]), version, stix.micros(moment(version)))
        )
    return out


def families(topics: Iterable[str]) -> tuple[str, ...]:
    """The topic families a product's topics fall in: 'dprk.missile.launch' → 'dprk.missile'."""
    return tuple(sorted({".".join(t.split(".")[:2]) for t in topics}))


def first_created(conn: Connection, product: Product) -> datetime:
    """When the product's first version held here was written: every version's report keeps
    it as `created` (STIX versioning keeps `created` and moves `modified`)."""
    found = conn.execute(
        select(func.min(products.c.created_at)).where(products.c.product_id == product.id)
    ).scalar_one_or_none()
    if found is None:
        return product.created_at
    moment: datetime = found
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return min(moment, product.created_at)


def _owner(product: Product, **flags: bool) -> stix.Owner:
    return stix.Owner(
        product_id=product.id,
        product_version=product.version,
        flash=product.precedence is Precedence.FLASH,
        families=families(product.topics),
        **flags,
    )


def add_version(
    conn: Connection, arrangement: Arrangement, here: str, product: Product, now: datetime
) -> None:
    """Add a signed version held here (released or received) to the feed, once."""
    if stix.indexed(conn, product.id, product.version):
        return
    objects = export.version_objects(
        product, arrangement, here=here, first_created=first_created(conn, product)
    )
    objects += export.marking_objects(product, arrangement, here=here)
    stix.add(conn, entries(objects), _owner(product), now)


def add_recall(
    conn: Connection,
    arrangement: Arrangement,
    here: str,
    product: Product,
    recalled_at: datetime,
    now: datetime,
) -> None:
    """Add a version's recall to the feed, once: its own notes and locations revoked, and its
    report as STIX can say it. STIX revokes an object for good, while tisa recalls one
    version, so the report is revoked only when no other version stands; when the recalled
    version was the newest and an earlier one stands, the report is written again as that
    one, modified at the recall; when a later one stands, the report is left as it is."""
    when = stix.micros(moment(timestamp(recalled_at)))
    if stix.recall_indexed(conn, product.id, when):
        return
    created = first_created(conn, product)
    revoked = export.version_objects(
        product, arrangement, here=here, first_created=created, recalled_at=recalled_at
    )
    report, parts = revoked[0], revoked[1:]
    t = products.c
    standing = sorted(
        conn.execute(
            select(t.version).where(
                t.product_id == product.id,
                t.version != product.version,
                t.manifest.is_not(None),
                t.recalled_at.is_(None),
            )
        ).scalars()
    )
    if not standing:
        stix.add(conn, entries([report, *parts]), _owner(product, revoked=True), now)
        return
    stix.add(conn, entries(parts), _owner(product, revoked=True), now)
    if standing[-1] > product.version:
        return
    row = stored.get(conn, product.id, standing[-1])
    if row is None:
        return
    again = routing.stored_product(row)
    (report_again, *_) = export.version_objects(
        again, arrangement, here=here, first_created=created, reissued_at=recalled_at
    )
    stix.add(conn, entries([report_again]), _owner(again, reissued=True), now)


def add_common(conn: Connection, arrangement: Arrangement, now: datetime) -> None:
    """Add the objects every export refers to (the parties' identities, tisa's extension
    definitions), once."""
    if not stix.has_common(conn):
        stix.add(conn, entries(export.common_objects(arrangement)), stix.Owner(), now)


def catch_up(conn: Connection, arrangement: Arrangement, here: str, now: datetime) -> int:
    """Fill the feed from the signed versions (and recalls) held here when it has none of
    them: a store made before the feed. Returns how many versions were added."""
    add_common(conn, arrangement, now)
    if stix.has_products(conn):
        return 0
    held = [
        row
        for row in stored.walk(conn)
        if not isinstance(row, stored.Unreadable) and row.manifest is not None
    ]
    for row in held:
        add_version(conn, arrangement, here, routing.stored_product(row), now)
    # Recalls after every version, in the order they were made, so each sees what stands.
    recalls = [(r.recalled_at, r) for r in held if r.recalled_at is not None]
    for recalled_at, row in sorted(recalls, key=lambda pair: pair[0]):
        add_recall(conn, arrangement, here, routing.stored_product(row), recalled_at, now)
    return len(held)
