"""The outbox sender, one turn at a time, against the hub's real federation app (in process)
or a transport that answers as a failing peer would."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import timedelta

import httpx
from harness.trio import Trio
from sqlalchemy import insert

from tisa.api.federation import federation_app
from tisa.crypto import jws
from tisa.domain.markings import Precedence
from tisa.domain.states import DeliveryState, OutboxState
from tisa.relay.sender import MESSAGES_PATH, Sender
from tisa.relay.transmission import HEADER, check_transmission
from tisa.services.accounts import Role
from tisa.store import audit, deliveries, products, tables

Handler = Callable[[httpx.Request], httpx.Response]


def _sender(trio: Trio, client: httpx.AsyncClient, party: str = "KOR", peer: str = "USA") -> Sender:
    return Sender(trio.rt[party].ctx, {peer: client}, rng=random.Random(7))


def _turn(sender: Sender, peer: str, lane: int) -> int:
    """One look at the lane and, if it gave a batch, one delivery; the batch's size."""

    async def go() -> int:
        await sender.prepare()
        batch, _ = await asyncio.to_thread(sender._turn, peer, lane)
        if batch:
            await sender._deliver(peer, batch)
        return len(batch)

    return asyncio.run(go())


def _peer(handler: Handler, seen: list[httpx.Request] | None = None) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://usa")


def _delivery(trio: Trio, party: str, product_id: str, peer: str) -> deliveries.DeliveryRow:
    with trio.rt[party].ctx.db.read() as conn:
        (row,) = [d for d in deliveries.deliveries_of(conn, product_id, 1) if d.party == peer]
    return row


FLASH = Precedence.FLASH.lane
ROUTINE = Precedence.ROUTINE.lane


def test_what_the_peer_stores_is_sent_and_its_receipt_makes_it_delivered(trio: Trio) -> None:
    product_id = trio.release("KOR", precedence="ROUTINE")

    assert _turn(_sender(trio, trio.peer_app("USA")), "USA", ROUTINE) == 1

    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert entry.state == OutboxState.SENT
    assert _delivery(trio, "KOR", product_id, "USA").state == DeliveryState.SENT
    with trio.rt["USA"].ctx.db.read() as conn:
        held = products.get(conn, product_id, 1)
    assert held is not None
    assert held.received_from == "KOR"
    # The hub's signed receipt goes back on the product's own lane, with its request for
    # KOR's consent to pass the product on to JPN.
    assert {r.kind for r in trio.outbox("USA", peer="KOR")} == {"receipt", "consent-request"}
    usa_to_kor = _sender(trio, trio.peer_app("KOR"), party="USA", peer="KOR")
    assert _turn(usa_to_kor, "KOR", ROUTINE) == 2
    delivered = _delivery(trio, "KOR", product_id, "USA")
    assert delivered.state == DeliveryState.DELIVERED
    assert delivered.receipt is not None


def test_every_request_is_signed_for_the_peer_over_the_exact_body(trio: Trio) -> None:
    trio.release("KOR", precedence="ROUTINE")
    seen: list[httpx.Request] = []
    usa = trio.rt["USA"].ctx
    results = lambda r: [{"status": "stored"}] * len(json.loads(r.content)["messages"])  # noqa: E731
    _turn(
        _sender(trio, _peer(lambda r: httpx.Response(200, json={"results": results(r)}), seen)),
        "USA",
        ROUTINE,
    )

    (request,) = seen
    assert request.url.path == MESSAGES_PATH
    assert check_transmission(usa.trust, request.headers[HEADER], request.content, usa.clock()) == (
        "KOR"
    )


def test_a_peer_that_is_busy_is_tried_again_later_and_nothing_is_lost(trio: Trio) -> None:
    product_id = trio.release("KOR", precedence="ROUTINE")
    before = trio.rt["KOR"].clock()

    _turn(
        _sender(trio, _peer(lambda r: httpx.Response(503, json={"detail": "busy"}))), "USA", ROUTINE
    )

    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert entry.state == OutboxState.PENDING
    assert entry.attempts == 1
    assert "HTTP 503: busy" in entry.last_error
    assert entry.next_attempt_at > before
    assert entry.lease_until is None
    assert _delivery(trio, "KOR", product_id, "USA").state == DeliveryState.QUEUED


def test_an_unreachable_peer_is_tried_again_later(trio: Trio) -> None:
    product_id = trio.release("KOR", precedence="ROUTINE")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    _turn(_sender(trio, _peer(refuse)), "USA", ROUTINE)

    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert entry.state == OutboxState.PENDING
    assert "ConnectError" in entry.last_error


def test_an_exchange_refused_for_good_goes_to_the_dead_letters_with_its_reason(trio: Trio) -> None:
    product_id = trio.release("KOR", precedence="ROUTINE")

    _turn(
        _sender(trio, _peer(lambda r: httpx.Response(400, json={"detail": "malformed batch"}))),
        "USA",
        ROUTINE,
    )

    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert entry.state == OutboxState.DEAD
    denied = _delivery(trio, "KOR", product_id, "USA")
    assert denied.state == DeliveryState.DENIED
    assert denied.detail == "refused by USA: HTTP 400: malformed batch"
    with trio.rt["KOR"].ctx.db.read() as conn:
        dead = audit.entries(conn, action=audit.Action.DEAD_LETTER)
    assert [e.product_id for e in dead] == [product_id]


def test_each_message_takes_its_own_answer(trio: Trio) -> None:
    """In one batch: one stored, one refused for good, one refused for now."""
    ids = [trio.release("KOR", precedence="ROUTINE") for _ in range(3)]
    answers = [
        {"status": "stored"},
        {"status": "rejected", "permanent": True, "reason": "above the ceiling"},
        {"status": "rejected", "permanent": False, "reason": "store busy"},
    ]

    _turn(
        _sender(trio, _peer(lambda r: httpx.Response(200, json={"results": answers}))),
        "USA",
        ROUTINE,
    )

    states = {row.product_id: row.state for row in trio.outbox("KOR")}
    assert [states[i] for i in ids] == [OutboxState.SENT, OutboxState.DEAD, OutboxState.PENDING]
    assert _delivery(trio, "KOR", ids[1], "USA").detail == "refused by USA: above the ceiling"
    assert _delivery(trio, "KOR", ids[2], "USA").state == DeliveryState.QUEUED


def test_an_answer_that_does_not_match_the_batch_changes_no_state(trio: Trio) -> None:
    ids = [trio.release("KOR", precedence="ROUTINE") for _ in range(2)]

    _turn(
        _sender(
            trio, _peer(lambda r: httpx.Response(200, json={"results": [{"status": "stored"}]}))
        ),
        "USA",
        ROUTINE,
    )

    rows = trio.outbox("KOR")
    assert [r.state for r in rows] == [OutboxState.PENDING] * 2
    assert all("bad answer" in r.last_error for r in rows)
    assert all(_delivery(trio, "KOR", i, "USA").state == DeliveryState.QUEUED for i in ids)


def test_a_version_recalled_after_it_was_queued_is_cancelled_at_the_lease_never_sent(
    trio: Trio,
) -> None:
    """The gate asks again when the sender takes the message: a recall this node learned of
    by any path (here written straight into its store) stops what is still queued."""
    product_id = trio.release("KOR", precedence="ROUTINE")
    kor = trio.rt["KOR"]
    with kor.ctx.db.begin() as conn:
        conn.execute(
            insert(tables.recalls).values(
                product_id=product_id,
                version=1,
                originator="KOR",
                recalled_at=kor.clock(),
                reason="withdrawn",
                token="eyJ.recall.sig",
                stored_at=kor.clock(),
            )
        )
    seen: list[httpx.Request] = []

    assert _turn(_sender(trio, _peer(lambda r: httpx.Response(500), seen)), "USA", ROUTINE) == 0

    assert seen == []
    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert entry.state == OutboxState.CANCELLED
    cancelled = _delivery(trio, "KOR", product_id, "USA")
    assert cancelled.state == DeliveryState.CANCELLED
    assert "recalled" in cancelled.detail


def test_a_suspended_channel_sends_nothing_and_keeps_the_queue(trio: Trio) -> None:
    product_id = trio.release("KOR", precedence="FLASH")
    kor = trio.rt["KOR"]
    kor.channels.set_channel(trio.user("KOR", Role.ADMIN), "USA-KOR", suspended=True)
    seen: list[httpx.Request] = []

    assert _turn(_sender(trio, _peer(lambda r: httpx.Response(500), seen)), "USA", FLASH) == 0

    assert seen == []
    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert (entry.state, entry.attempts, entry.lease_until) == (OutboxState.PENDING, 0, None)

    kor.channels.set_channel(trio.user("KOR", Role.ADMIN), "USA-KOR", suspended=False)
    assert _turn(_sender(trio, trio.peer_app("USA")), "USA", FLASH) == 1
    assert trio.outbox("KOR", product_id=product_id)[0].state == OutboxState.SENT


def test_a_less_urgent_lane_waits_while_flash_is_due(trio: Trio) -> None:
    routine = trio.release("KOR", precedence="ROUTINE")
    flash = trio.release("KOR", precedence="FLASH")
    sender = _sender(trio, trio.peer_app("USA"))

    assert _turn(sender, "USA", ROUTINE) == 0
    assert trio.outbox("KOR", product_id=routine)[0].state == OutboxState.PENDING

    assert _turn(sender, "USA", FLASH) == 1
    assert _turn(sender, "USA", ROUTINE) == 1
    assert {r.product_id: r.state for r in trio.outbox("KOR", kind="envelope")} == {
        flash: OutboxState.SENT,
        routine: OutboxState.SENT,
    }


class Switch(httpx.AsyncBaseTransport):
    """A peer that can go down and come back; records what reaches it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(await request.aread())
        return await self.inner.handle_async_request(request)


def test_after_an_outage_flash_reaches_the_peer_first(trio: Trio) -> None:
    """While the peer is failing, routine traffic waits for every FLASH still queued, in its
    backoff too; the first request the returning peer stores carries the FLASH."""
    kor = trio.rt["KOR"]
    peer = Switch(httpx.MockTransport(lambda r: httpx.Response(503)))
    sender = _sender(trio, httpx.AsyncClient(transport=peer, base_url="http://usa"))
    routine = trio.release("KOR", precedence="ROUTINE")
    assert _turn(sender, "USA", ROUTINE) == 1  # refused: the peer is down
    flash = trio.release("KOR", precedence="FLASH")
    with kor.ctx.db.begin() as conn:  # both due again now
        conn.execute(
            tables.outbox.update().values(next_attempt_at=kor.clock() - timedelta(seconds=1))
        )
    peer.inner = httpx.ASGITransport(app=federation_app(trio.rt["USA"]))
    peer.seen.clear()

    assert _turn(sender, "USA", ROUTINE) == 0  # waits: a FLASH is queued for a failing peer
    assert _turn(sender, "USA", FLASH) == 1
    assert _turn(sender, "USA", ROUTINE) == 1

    carried = [[m["token"] for m in json.loads(body)["messages"]] for body in peer.seen]
    assert [[jws.peek(t).payload["id"] for t in batch] for batch in carried] == [
        [flash],
        [routine],
    ]
