"""Release and recall: signed, queued under the gate, withdrawn from every holder."""

from __future__ import annotations

import pytest
from harness.factories import draft
from harness.trio import Trio

from tisa.crypto import jws
from tisa.domain.states import DeliveryState, OutboxState, ProductState
from tisa.domain.wire import DraftIn, parse
from tisa.errors import AccessDenied, Conflict, PolicyDenied
from tisa.services.accounts import Role
from tisa.store import deliveries, products


def _draft(trio: Trio, **fields: object) -> str:
    body = parse(DraftIn, draft("KOR", observations=[], **fields))
    return trio.rt["KOR"].drafts.create(trio.user("KOR", Role.ANALYST), body).id


def _row(trio: Trio, product_id: str) -> products.ProductRow:
    with trio.rt["KOR"].ctx.db.read() as conn:
        row = products.get(conn, product_id, 1)
    assert row is not None
    return row


def test_release_signs_the_draft_and_queues_it_for_the_hub(trio: Trio) -> None:
    product_id = _draft(trio)

    outcome = trio.rt["KOR"].releases.release(trio.user("KOR", Role.RELEASE_OFFICER), product_id, 1)

    assert outcome == {"USA": "queued", "JPN": "via USA"}
    row = _row(trio, product_id)
    assert row.state == ProductState.RELEASED
    assert row.manifest is not None
    assert jws.peek(row.manifest).payload["id"] == product_id
    (entry,) = trio.outbox("KOR", product_id=product_id)
    assert (entry.peer, entry.kind, entry.state) == ("USA", "envelope", OutboxState.PENDING)


def test_only_a_release_officer_releases(trio: Trio) -> None:
    product_id = _draft(trio)
    with pytest.raises(AccessDenied):
        trio.rt["KOR"].releases.release(trio.user("KOR", Role.ANALYST), product_id, 1)
    assert _row(trio, product_id).state == ProductState.DRAFT


def test_releasing_twice_is_a_conflict_and_queues_nothing_more(trio: Trio) -> None:
    product_id = trio.release("KOR")
    with pytest.raises(Conflict):
        trio.rt["KOR"].releases.release(trio.user("KOR", Role.RELEASE_OFFICER), product_id, 1)
    assert len(trio.outbox("KOR", product_id=product_id)) == 1


def test_a_product_above_the_channels_ceiling_is_refused_with_its_reason(trio: Trio) -> None:
    kor = trio.rt["KOR"]
    analyst = trio.user("KOR", Role.ANALYST)
    # Drafting above a ceiling is allowed (the analyst may lower it); releasing is not.
    body = parse(DraftIn, draft("KOR", observations=[], classification="TOP SECRET"))
    product_id = kor.drafts.create(analyst, body).id

    with pytest.raises(PolicyDenied, match="ceiling"):
        kor.releases.release(trio.user("KOR", Role.RELEASE_OFFICER), product_id, 1)

    assert _row(trio, product_id).state == ProductState.DRAFT
    assert trio.outbox("KOR", product_id=product_id) == []


def test_recall_tells_every_holder_and_cancels_what_is_still_queued(trio: Trio) -> None:
    kor = trio.rt["KOR"]
    officer = trio.user("KOR", Role.RELEASE_OFFICER)
    held = trio.release("KOR")
    trio.carry("KOR", "USA")
    queued = trio.release("KOR")

    kor.releases.recall(officer, held, 1, "wrong launch site")
    kor.releases.recall(officer, queued, 1, "wrong launch site")

    recalls = [jws.peek(m.token).payload for m in trio.messages("KOR", "USA", "recall")]
    assert held in {r["product_id"] for r in recalls}
    (envelope,) = [e for e in trio.outbox("KOR", product_id=queued) if e.kind == "envelope"]
    assert envelope.state == OutboxState.CANCELLED
    with kor.ctx.db.read() as conn:
        (usa,) = [d for d in deliveries.deliveries_of(conn, queued, 1) if d.party == "USA"]
    assert usa.state == DeliveryState.CANCELLED
    assert _row(trio, held).recalled_at is not None
    assert _row(trio, queued).recalled_at is not None


def test_recalling_twice_is_a_conflict(trio: Trio) -> None:
    product_id = trio.release("KOR")
    officer = trio.user("KOR", Role.RELEASE_OFFICER)
    trio.rt["KOR"].releases.recall(officer, product_id, 1, "withdrawn")
    with pytest.raises(Conflict):
        trio.rt["KOR"].releases.recall(officer, product_id, 1, "again")
