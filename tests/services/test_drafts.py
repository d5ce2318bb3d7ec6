"""Drafting: what an analyst writes is held to the arrangement before anything is stored."""

from __future__ import annotations

import pytest
from harness.factories import draft
from harness.trio import Trio
from sqlalchemy import func, select

from tisa.domain.states import ProductState
from tisa.domain.wire import DraftIn, parse
from tisa.errors import AccessDenied, Conflict, InputInvalid, PolicyDenied
from tisa.services.accounts import Role
from tisa.store import products, tables


def _stored(trio: Trio, party: str = "KOR") -> int:
    with trio.rt[party].ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.products)).scalar())


def _draft(**fields: object) -> DraftIn:
    return parse(DraftIn, draft("KOR", observations=[], **fields))


def test_a_draft_is_stored_unsigned_at_version_one(trio: Trio) -> None:
    product = trio.rt["KOR"].drafts.create(trio.user("KOR", Role.ANALYST), _draft())

    with trio.rt["KOR"].ctx.db.read() as conn:
        row = products.get(conn, product.id, 1)
    assert row is not None
    assert (row.state, row.manifest, row.originator) == (ProductState.DRAFT, None, "KOR")


def test_a_topic_outside_the_arrangement_is_refused_and_nothing_is_stored(trio: Trio) -> None:
    with pytest.raises(PolicyDenied, match=r"prc\.navy\.exercise"):
        trio.rt["KOR"].drafts.create(
            trio.user("KOR", Role.ANALYST), _draft(topics=["prc.navy.exercise"])
        )
    assert _stored(trio) == 0


def test_rel_to_naming_a_party_outside_the_arrangement_is_refused(trio: Trio) -> None:
    with pytest.raises((PolicyDenied, InputInvalid), match="GBR"):
        trio.rt["KOR"].drafts.create(
            trio.user("KOR", Role.ANALYST), _draft(rel_to=["USA", "KOR", "GBR"])
        )
    assert _stored(trio) == 0


def test_an_auditor_writes_nothing(trio: Trio) -> None:
    auditor = trio.rt["KOR"].accounts.add(
        "kor-audit-only", "a-long-password-1", Role.AUDITOR, "SECRET"
    )
    with pytest.raises(AccessDenied):
        trio.rt["KOR"].drafts.create(auditor, _draft())
    assert _stored(trio) == 0


def test_a_draft_is_revised_in_place_until_it_is_released(trio: Trio) -> None:
    kor = trio.rt["KOR"]
    analyst = trio.user("KOR", Role.ANALYST)
    product = kor.drafts.create(analyst, _draft(title="first words"))

    revised = kor.drafts.revise(analyst, product.id, 1, _draft(title="better words"))
    assert (revised.version, revised.title) == (1, "better words")

    kor.releases.release(trio.user("KOR", Role.RELEASE_OFFICER), product.id, 1)
    with pytest.raises(Conflict, match="already released"):
        kor.drafts.revise(analyst, product.id, 1, _draft(title="too late"))
    with kor.ctx.db.read() as conn:
        row = products.get(conn, product.id, 1)
    assert row is not None
    assert row.body["title"] == "better words"


def test_amending_a_released_product_drafts_its_next_version(trio: Trio) -> None:
    product_id = trio.release("KOR")
    amended = trio.rt["KOR"].drafts.amend(
        trio.user("KOR", Role.ANALYST), product_id, _draft(title="corrected figures")
    )
    assert (amended.id, amended.version) == (product_id, 2)
    with trio.rt["KOR"].ctx.db.read() as conn:
        first, second = products.get(conn, product_id, 1), products.get(conn, product_id, 2)
    assert first is not None
    assert second is not None
    assert (first.state, second.state) == (ProductState.RELEASED, ProductState.DRAFT)


def test_check_names_every_refusal_and_stores_nothing(trio: Trio) -> None:
    problems = trio.rt["KOR"].drafts.check(
        trio.user("KOR", Role.ANALYST),
        _draft(classification="TOP SECRET", topics=["prc.navy.exercise"]),
    )
    assert any("prc.navy.exercise" in p for p in problems)
    assert any("ceiling" in p for p in problems)
    assert _stored(trio) == 0


def test_a_draft_sent_back_says_why_to_its_author(trio: Trio) -> None:
    kor = trio.rt["KOR"]
    product = kor.drafts.create(trio.user("KOR", Role.ANALYST), _draft())

    kor.drafts.send_back(trio.user("KOR", Role.RELEASE_OFFICER), product.id, 1, "cite the sensor")

    sent_back = kor.drafts.sent_back(product.id, 1)
    assert sent_back is not None
    assert sent_back.reason == "cite the sensor"
    ((held, why),) = kor.drafts.drafts(trio.user("KOR", Role.ANALYST))
    assert held.row.product_id == product.id
    assert why == sent_back
