"""The STIX feed is written with the store: a release, a receipt and a recall each add their
objects once, in order, in the transaction that stores them; drafts never do; a store made
before the feed is filled from what it holds, as the same rows it would have written."""

from __future__ import annotations

from typing import Any

from harness.factories import draft
from harness.trio import Trio
from sqlalchemy import delete, select

from tisa.domain.wire import DraftIn, parse
from tisa.relay import stix_feed
from tisa.services.accounts import Role
from tisa.store import tables


def _rows(trio: Trio, party: str) -> list[Any]:
    with trio.rt[party].ctx.db.read() as conn:
        return list(conn.execute(select(tables.stix_objects).order_by(tables.stix_objects.c.seq)))


def _product_rows(trio: Trio, party: str) -> list[tuple[Any, ...]]:
    """The product rows as identity, not position or time."""
    return sorted(
        (r.object_id, r.object_type, r.version, r.product_id, r.product_version, r.revoked)
        for r in _rows(trio, party)
        if r.product_id is not None
    )


def test_a_draft_is_not_in_the_feed_and_its_release_is_once(trio: Trio) -> None:
    usa = trio.rt["USA"]
    body = draft("USA", observations=[])
    product = usa.drafts.create(trio.user("USA", Role.ANALYST), parse(DraftIn, body))
    assert [r for r in _rows(trio, "USA") if r.product_id == product.id] == []
    usa.releases.release(trio.user("USA", Role.RELEASE_OFFICER), product.id, 1)
    mine = [r for r in _rows(trio, "USA") if r.product_id == product.id]
    assert {r.object_type for r in mine} == {"report", "marking-definition"}
    added = [r.added_us for r in _rows(trio, "USA")]
    assert added == sorted(set(added)), "each row is added strictly after the one before"
    with usa.ctx.db.begin() as conn:
        stix_feed.add_version(conn, usa.ctx.arrangement, "USA", product, usa.clock())
    assert len([r for r in _rows(trio, "USA") if r.product_id == product.id]) == len(mine)


def test_a_recall_is_added_once_and_a_store_without_a_feed_is_filled_alike(trio: Trio) -> None:
    usa = trio.rt["USA"]
    kept = trio.release("USA")
    recalled = trio.release("USA")
    usa.releases.recall(trio.user("USA", Role.RELEASE_OFFICER), recalled, 1, "wrong site")
    revoked = [r for r in _rows(trio, "USA") if r.product_id == recalled and r.revoked]
    assert [r.object_type for r in revoked] == ["report"]
    before = _product_rows(trio, "USA")
    assert {r[3] for r in before} >= {kept, recalled}

    with usa.ctx.db.begin() as conn:
        conn.execute(
            delete(tables.stix_objects).where(tables.stix_objects.c.product_id.is_not(None))
        )
        filled = stix_feed.catch_up(conn, usa.ctx.arrangement, "USA", usa.clock())
        assert filled >= 2
        # Once filled, it is not filled again.
        assert stix_feed.catch_up(conn, usa.ctx.arrangement, "USA", usa.clock()) == 0
    assert _product_rows(trio, "USA") == before
