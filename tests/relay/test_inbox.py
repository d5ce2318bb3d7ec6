"""What a node does with each message a peer sends it: verify, ask the gate, store once."""

from __future__ import annotations

import base64
import json

import pytest
from harness.trio import Trio
from sqlalchemy import func, select

from tisa.crypto import jws
from tisa.crypto.trust import Signed
from tisa.domain.states import DeliveryState, ProductState
from tisa.domain.wire import parse
from tisa.errors import ChannelSuspended, Conflict, NotFound, PolicyDenied, SignatureInvalid
from tisa.relay import inbox
from tisa.relay.messages import Message
from tisa.services.accounts import Role
from tisa.store import audit, deliveries, products, tables


def _count(trio: Trio, party: str, table: tables.Table, *where: object) -> int:
    with trio.rt[party].ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


def _held(trio: Trio, party: str, product_id: str) -> products.ProductRow | None:
    with trio.rt[party].ctx.db.read() as conn:
        return products.get(conn, product_id, 1)


def _envelope(trio: Trio, party: str = "KOR", **fields: object) -> tuple[str, Message]:
    product_id = trio.release(party, **fields)
    (row,) = trio.outbox(party, peer="USA", kind="envelope", product_id=product_id)
    return product_id, parse(Message, row.message)


def _altered(token: str, **changes: object) -> str:
    """`token` with its payload changed and its signature kept (as an attacker would)."""
    header, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    raw = json.dumps(payload).encode()
    return ".".join([header, base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), signature])


def test_an_envelope_is_stored_once_and_answered_duplicate_after(trio: Trio) -> None:
    product_id, msg = _envelope(trio)
    usa = trio.rt["USA"].ctx

    assert inbox.receive(usa, "KOR", msg) == "stored"
    assert inbox.receive(usa, "KOR", msg) == "duplicate"

    held = _held(trio, "USA", product_id)
    assert held is not None
    assert (held.state, held.received_from, held.manifest) == (
        ProductState.RECEIVED,
        "KOR",
        msg.token,
    )
    # One receipt back to the originator, one record of the receipt, however often it came.
    receipts = trio.messages("USA", "KOR", "receipt")
    assert len(receipts) == 1
    with usa.db.read() as conn:
        assert len(audit.entries(conn, product_id=product_id, action=audit.Action.RECEIVE)) == 1


def test_a_payload_altered_in_transit_is_refused_on_record_and_nothing_is_stored(
    trio: Trio,
) -> None:
    product_id, msg = _envelope(trio)
    forged = msg.model_copy(update={"token": _altered(msg.token, classification="UNCLASSIFIED")})
    usa = trio.rt["USA"].ctx

    with pytest.raises(SignatureInvalid):
        inbox.receive(usa, "KOR", forged)

    assert _held(trio, "USA", product_id) is None
    with usa.db.read() as conn:
        (refusal,) = audit.entries(conn, action=audit.Action.REFUSE)
    assert refusal.detail["error"] == "SignatureInvalid"
    assert refusal.actor == "KOR"


def test_in_a_batch_a_refused_message_changes_nothing_and_the_others_stand(trio: Trio) -> None:
    bad_id, bad = _envelope(trio)
    good_id, good = _envelope(trio)
    forged = bad.model_copy(update={"token": _altered(bad.token, title="changed")})

    outcomes = inbox.receive_many(trio.rt["USA"].ctx, "KOR", [forged, good])

    assert isinstance(outcomes[0], SignatureInvalid)
    assert outcomes[1] == "stored"
    assert _held(trio, "USA", bad_id) is None
    assert _held(trio, "USA", good_id) is not None


def test_the_same_version_with_other_content_is_a_conflict_and_the_first_stands(
    trio: Trio,
) -> None:
    """An originator's store restored from an old backup might sign a version twice with
    different content: the holder keeps the first and says so."""
    product_id, msg = _envelope(trio)
    usa = trio.rt["USA"].ctx
    inbox.receive(usa, "KOR", msg)
    kor = trio.rt["KOR"].ctx
    claims = jws.peek(msg.token).payload
    other = kor.trust.sign(Signed.PRODUCT, {**claims, "title": "another text, same version"})

    with pytest.raises(Conflict, match="already held with other content"):
        inbox.receive(usa, "KOR", msg.model_copy(update={"token": other}))

    held = _held(trio, "USA", product_id)
    assert held is not None
    assert held.manifest == msg.token


def test_an_envelope_from_a_party_with_no_channel_here_is_refused(trio: Trio) -> None:
    """JPN's own product presented straight to KOR: the spokes never exchange directly."""
    product_id, msg = _envelope(trio, "JPN")

    with pytest.raises(PolicyDenied, match="JPN and KOR exchange only via USA"):
        inbox.receive(trio.rt["KOR"].ctx, "JPN", msg)

    assert _held(trio, "KOR", product_id) is None


def test_a_suspended_channel_refuses_for_now_and_keeps_nothing(trio: Trio) -> None:
    product_id, msg = _envelope(trio)
    usa = trio.rt["USA"]
    usa.channels.set_channel(trio.user("USA", Role.ADMIN), "USA-KOR", suspended=True)

    with pytest.raises(ChannelSuspended) as held:
        inbox.receive(usa.ctx, "KOR", msg)

    assert not held.value.permanent  # the sender keeps it and tries again
    assert _held(trio, "USA", product_id) is None


def test_a_receipt_makes_the_originators_delivery_delivered(trio: Trio) -> None:
    product_id, msg = _envelope(trio)
    inbox.receive(trio.rt["USA"].ctx, "KOR", msg)
    (receipt,) = trio.messages("USA", "KOR", "receipt")

    assert inbox.receive(trio.rt["KOR"].ctx, "USA", receipt) == "stored"

    with trio.rt["KOR"].ctx.db.read() as conn:
        (usa,) = [d for d in deliveries.deliveries_of(conn, product_id, 1) if d.party == "USA"]
    assert usa.state == DeliveryState.DELIVERED
    assert usa.receipt == receipt.token


def test_a_receipt_for_what_this_node_never_sent_is_refused(trio: Trio) -> None:
    product_id, msg = _envelope(trio, "JPN")
    inbox.receive(trio.rt["USA"].ctx, "JPN", msg)
    (receipt,) = trio.messages("USA", "JPN", "receipt")

    with pytest.raises(NotFound, match="not held"):
        inbox.receive(trio.rt["KOR"].ctx, "USA", receipt)  # the hub's receipt for JPN

    assert _count(trio, "KOR", tables.deliveries, tables.deliveries.c.product_id == product_id) == 0


def test_a_recall_withdraws_the_version_where_it_is_held(trio: Trio) -> None:
    product_id, msg = _envelope(trio)
    usa = trio.rt["USA"].ctx
    inbox.receive(usa, "KOR", msg)
    trio.rt["KOR"].releases.recall(
        trio.user("KOR", Role.RELEASE_OFFICER), product_id, 1, "figures withdrawn"
    )
    (recall,) = trio.messages("KOR", "USA", "recall")

    assert inbox.receive(usa, "KOR", recall) == "stored"

    held = _held(trio, "USA", product_id)
    assert held is not None
    assert held.recalled_at is not None
    assert _count(trio, "USA", tables.recalls, tables.recalls.c.product_id == product_id) == 1
