"""Where a product goes from the hub: to the other spoke only with the originator's consent,
held (with a request to the originator) until it has one."""

from __future__ import annotations

from harness.trio import Trio

from tisa.crypto import jws
from tisa.domain.markings import Precedence
from tisa.domain.states import DeliveryState, ProductState
from tisa.domain.wire import ConsentIn
from tisa.relay import routing
from tisa.services.accounts import Role
from tisa.store import deliveries, products


def _consent(trio: Trio, originator: str = "KOR", **terms: object) -> str:
    """A standing consent `originator` gives for the other spoke, carried to the hub."""
    other = "JPN" if originator == "KOR" else "KOR"
    terms = {"max_classification": "SECRET", **terms}
    given = trio.rt[originator].consents.grant_consent(
        trio.user(originator, Role.RELEASE_OFFICER),
        ConsentIn(recipient=other, **terms),  # type: ignore[arg-type]
    )
    trio.carry(originator, "USA")
    return str(given["id"])


def _relays(trio: Trio, product_id: str) -> list[object]:
    return trio.outbox("USA", peer="JPN", kind="envelope", product_id=product_id)


def test_with_the_originators_consent_the_hub_relays_with_its_attestation(trio: Trio) -> None:
    consent_id = _consent(trio, topics=["dprk.missile.*"])
    product_id = trio.release("KOR")
    trio.carry("KOR", "USA")

    (relay,) = _relays(trio, product_id)
    attested = jws.peek(relay.message["attestation"]).payload
    assert attested["consent_id"] == consent_id
    assert (attested["product_id"], attested["recipient"]) == (product_id, "JPN")
    assert relay.consent_id == consent_id
    assert relay.lane == Precedence.FLASH.lane
    # JPN takes it: the relay verifies, consent and all.
    assert trio.carry("USA", "JPN") >= 1
    with trio.rt["JPN"].ctx.db.read() as conn:
        held = products.get(conn, product_id, 1)
    assert held is not None
    assert (held.state, held.received_from, held.originator) == (
        ProductState.RECEIVED,
        "USA",
        "KOR",
    )


def test_without_consent_the_hub_holds_it_and_asks_the_originator(trio: Trio) -> None:
    product_id = trio.release("KOR")
    trio.carry("KOR", "USA")

    assert _relays(trio, product_id) == []
    (request,) = trio.messages("USA", "KOR", "consent-request")
    asked = jws.peek(request.token).payload
    assert (asked["product_id"], asked["recipient"]) == (product_id, "JPN")
    with trio.rt["USA"].ctx.db.read() as conn:
        (jpn,) = [d for d in deliveries.deliveries_of(conn, product_id, 1) if d.party == "JPN"]
    assert jpn.state == DeliveryState.HELD


def test_a_consent_given_later_releases_what_the_hub_holds(trio: Trio) -> None:
    product_id = trio.release("KOR")
    trio.carry("KOR", "USA")
    trio.carry("USA", "KOR")  # the request reaches KOR's release officer
    officer = trio.user("KOR", Role.RELEASE_OFFICER)
    (request,) = trio.rt["KOR"].consents.consent_requests(officer, "open")

    trio.rt["KOR"].consents.answer_request(officer, request.request_id, grant=True)
    trio.carry("KOR", "USA")

    (relay,) = _relays(trio, product_id)
    assert jws.peek(relay.message["attestation"]).payload["product_id"] == product_id


def test_rel_to_that_leaves_out_the_other_spoke_sends_it_nowhere_and_asks_nothing(
    trio: Trio,
) -> None:
    _consent(trio, topics=["dprk.missile.*"])
    product_id = trio.release("KOR", rel_to=["USA", "KOR"])
    trio.carry("KOR", "USA")

    assert _relays(trio, product_id) == []
    assert trio.messages("USA", "KOR", "consent-request") == []


def test_a_consent_whose_terms_do_not_cover_the_product_is_not_used(trio: Trio) -> None:
    _consent(trio, topics=["dprk.nuclear.*"])
    product_id = trio.release("KOR")  # a missile launch
    trio.carry("KOR", "USA")

    assert _relays(trio, product_id) == []
    assert len(trio.messages("USA", "KOR", "consent-request")) == 1


def test_a_revoked_consent_relays_nothing_more(trio: Trio) -> None:
    consent_id = _consent(trio, topics=["dprk.missile.*"])
    trio.rt["KOR"].consents.revoke_consent(trio.user("KOR", Role.RELEASE_OFFICER), consent_id)
    trio.carry("KOR", "USA")
    product_id = trio.release("KOR")
    trio.carry("KOR", "USA")

    assert _relays(trio, product_id) == []


def test_the_lane_is_the_products_precedence(trio: Trio) -> None:
    for precedence in Precedence:
        product_id = trio.release("KOR", precedence=precedence.value)
        with trio.rt["KOR"].ctx.db.read() as conn:
            row = products.get(conn, product_id, 1)
        assert row is not None
        assert routing.lane_of(row) == precedence.lane
