"""Reading: every opening asks the gate and the verifier, now; what a reader may not see does
not exist for them."""

from __future__ import annotations

import uuid

import pytest
from harness.trio import Trio
from sqlalchemy import update

from tisa.errors import Damaged, NotFound
from tisa.relay import inbox
from tisa.services.accounts import Role, User
from tisa.store import audit, products, tables


def _reader(trio: Trio, party: str, clearance: str, need_to_know: list[str] | None = None) -> User:
    return trio.rt[party].accounts.add(
        f"{party.lower()}-{uuid.uuid4().hex[:8]}",
        uuid.uuid4().hex,
        Role.ANALYST,
        clearance,
        need_to_know if need_to_know is not None else ["*"],
    )


def _received_at_usa(trio: Trio, **fields: object) -> str:
    product_id = trio.release("KOR", **fields)
    trio.carry("KOR", "USA")
    return product_id


def test_a_cleared_reader_opens_a_received_product_and_it_is_on_record(trio: Trio) -> None:
    product_id = _received_at_usa(trio)
    reader = _reader(trio, "USA", "TOP SECRET")

    held = trio.rt["USA"].reading.read(reader, product_id)

    assert held.product.id == product_id
    assert held.provenance is not None
    with trio.rt["USA"].ctx.db.read() as conn:
        (view,) = audit.entries(conn, product_id=product_id, action=audit.Action.VIEW)
    assert (view.actor, view.detail["allowed"]) == (reader.username, True)


def test_a_reader_below_the_classification_meets_not_found_and_the_attempt_is_on_record(
    trio: Trio,
) -> None:
    product_id = _received_at_usa(trio)  # SECRET
    low = _reader(trio, "USA", "CONFIDENTIAL")

    with pytest.raises(NotFound, match=f"no product {product_id}"):
        trio.rt["USA"].reading.read(low, product_id)
    assert [h.row.product_id for h in trio.rt["USA"].reading.list_products(low)] == []
    with trio.rt["USA"].ctx.db.read() as conn:
        (view,) = audit.entries(conn, product_id=product_id, action=audit.Action.VIEW)
    assert view.detail["allowed"] is False


def test_need_to_know_limits_what_is_listed(trio: Trio) -> None:
    launch = _received_at_usa(trio, topics=["dprk.missile.launch"])
    nuclear = _received_at_usa(trio, topics=["dprk.nuclear.test"])
    missiles_only = _reader(trio, "USA", "TOP SECRET", ["dprk.missile.*"])

    listed = {h.row.product_id for h in trio.rt["USA"].reading.list_products(missiles_only)}

    assert launch in listed
    assert nuclear not in listed


def test_a_row_altered_at_rest_is_damaged_never_served(trio: Trio) -> None:
    product_id = _received_at_usa(trio)
    usa = trio.rt["USA"]
    with usa.ctx.db.begin() as conn:
        row = products.get(conn, product_id, 1)
        assert row is not None
        conn.execute(
            update(tables.products)
            .where(tables.products.c.product_id == product_id)
            .values(body={**row.body, "classification": "UNCLASSIFIED"})
        )

    with pytest.raises(Damaged):
        usa.reading.read(_reader(trio, "USA", "TOP SECRET"), product_id)


def test_a_recalled_version_is_still_readable_where_held_and_says_so(trio: Trio) -> None:
    product_id = _received_at_usa(trio)
    trio.rt["KOR"].releases.recall(
        trio.user("KOR", Role.RELEASE_OFFICER), product_id, 1, "figures withdrawn"
    )
    (recall,) = trio.messages("KOR", "USA", "recall")
    inbox.receive(trio.rt["USA"].ctx, "KOR", recall)

    held = trio.rt["USA"].reading.read(_reader(trio, "USA", "TOP SECRET"), product_id)

    assert held.row.recalled_at is not None
    assert held.row.recall_reason == "figures withdrawn"


def test_opened_versions_are_marked_read_for_that_user_only(trio: Trio) -> None:
    product_id = _received_at_usa(trio)
    usa = trio.rt["USA"].reading
    alice, bob = _reader(trio, "USA", "SECRET"), _reader(trio, "USA", "SECRET")
    held = usa.read(alice, product_id)

    usa.mark_read(alice, held)

    assert usa.opened(alice, [held]) == {(product_id, 1)}
    assert usa.opened(bob, [held]) == set()
