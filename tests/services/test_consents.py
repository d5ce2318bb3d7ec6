"""Consent: what a spoke's release officer grants, answers and revokes, each one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from harness.clusters import copy_cluster
from harness.factories import draft
from harness.trio import Trio
from sqlalchemy import func, select

from tisa.crypto import jws
from tisa.demo.network import Cluster
from tisa.domain.consent import ConsentKind, StreamMode
from tisa.domain.wire import ConsentIn, DraftIn, parse
from tisa.errors import AccessDenied, InputInvalid
from tisa.node.runtime import Runtime
from tisa.services.accounts import Role, User
from tisa.store import consents
from tisa.store.tables import consent_requests
from tisa.store.tables import consents as consent_table


@pytest.fixture(scope="module")
def kor(tmp_path_factory: pytest.TempPathFactory, cluster_template: Cluster) -> Iterator[Runtime]:
    cluster = copy_cluster(cluster_template, tmp_path_factory.mktemp("node") / "net")
    rt = Runtime(cluster.nodes["KOR"].settings).open()
    try:
        yield rt
    finally:
        rt.close()


def _user(rt: Runtime, role: Role) -> User:
    return rt.accounts.add(f"kor-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, role, "TOP SECRET")


def _request(rt: Runtime) -> str:
    """A KOR product released, and the hub's consent request for it, as KOR holds them."""
    product = rt.drafts.create(_user(rt, Role.ANALYST), parse(DraftIn, draft("KOR", orcon=True)))
    rt.releases.release(_user(rt, Role.RELEASE_OFFICER), product.id, 1)
    request_id = str(uuid.uuid4())
    with rt.ctx.db.begin() as conn:
        consents.add_request(
            conn,
            consents.RequestRow(
                request_id=request_id,
                product_id=product.id,
                version=1,
                originator="KOR",
                recipient="JPN",
                state="open",
                token="eyJ.request.sig",
                requested_at=rt.clock(),
                decided_at=None,
                decided_by=None,
                reason=None,
            ),
        )
    return request_id


def _count(rt: Runtime, table: Any) -> int:
    with rt.ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_granting_a_request_is_one_transaction(kor: Runtime, monkeypatch: Any) -> None:
    """If anything fails after the consent is signed and stored, nothing of it stays: the
    request is still open, and no consent is held or queued."""
    request_id = _request(kor)
    officer = _user(kor, Role.RELEASE_OFFICER)
    before = _count(kor, consent_table)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the outbox failed")

    monkeypatch.setattr("tisa.services.consents.routing.queue_message", broken)
    with pytest.raises(RuntimeError, match="the outbox failed"):
        kor.consents.answer_request(officer, request_id, grant=True)
    monkeypatch.undo()
    assert _count(kor, consent_table) == before
    with kor.ctx.db.read() as conn:
        state = conn.execute(
            select(consent_requests.c.state).where(consent_requests.c.request_id == request_id)
        ).scalar_one()
    assert state == "open"
    granted = kor.consents.answer_request(officer, request_id, grant=True)
    assert granted["state"] == "granted"
    assert _count(kor, consent_table) == before + 1


def test_only_a_release_officer_grants_and_the_hub_grants_nothing(trio: Trio) -> None:
    terms = ConsentIn(recipient="JPN", topics=["dprk.missile.*"], max_classification="SECRET")
    with pytest.raises(AccessDenied):
        trio.rt["KOR"].consents.grant_consent(trio.user("KOR", Role.ANALYST), terms)
    with pytest.raises(InputInvalid, match="is the hub"):
        trio.rt["USA"].consents.grant_consent(trio.user("USA", Role.RELEASE_OFFICER), terms)
    assert trio.outbox("KOR") == []


def test_a_standing_rule_needs_its_limits(trio: Trio) -> None:
    with pytest.raises(InputInvalid, match="standing rule"):
        trio.rt["KOR"].consents.grant_consent(
            trio.user("KOR", Role.RELEASE_OFFICER), ConsentIn(recipient="JPN")
        )
    with pytest.raises(InputInvalid, match="standing rule needs topics"):
        trio.rt["KOR"].consents.grant_consent(
            trio.user("KOR", Role.RELEASE_OFFICER),
            ConsentIn(recipient="JPN", topics=["dprk.missile.*"]),
        )
    assert trio.outbox("KOR") == []


def test_a_grant_goes_to_the_hub_and_its_revocation_follows(trio: Trio) -> None:
    officer = trio.user("KOR", Role.RELEASE_OFFICER)
    desk = trio.rt["KOR"].consents
    given = desk.grant_consent(
        officer,
        ConsentIn(recipient="JPN", topics=["dprk.missile.*"], max_classification="SECRET"),
    )
    (consent,) = trio.messages("KOR", "USA", "consent")
    assert jws.peek(consent.token).payload["id"] == given["id"]

    desk.revoke_consent(officer, given["id"])

    (revocation,) = trio.messages("KOR", "USA", "revocation")
    assert jws.peek(revocation.token).payload["consent_id"] == given["id"]
    (held,) = desk.consents(officer)
    assert held.revoked_at is not None


def test_a_live_track_consent_reaches_the_hub_and_never_carries_a_product(trio: Trio) -> None:
    officer = trio.user("KOR", Role.RELEASE_OFFICER)
    given = trio.rt["KOR"].consents.grant_consent(
        officer,
        ConsentIn(
            recipient="JPN",
            kind=ConsentKind.LIVE_TRACKS,
            max_classification="SECRET",
            modes=[StreamMode.LIVE],
        ),
    )
    trio.carry("KOR", "USA")
    (held,) = trio.rt["USA"].consents.consents(trio.user("USA", Role.ADMIN))
    assert (held.consent_id, held.terms["kind"]) == (given["id"], "live-tracks")

    product_id = trio.release("KOR")
    trio.carry("KOR", "USA")

    assert trio.outbox("USA", peer="JPN", product_id=product_id) == []
    assert len(trio.messages("USA", "KOR", "consent-request")) == 1


def test_a_live_track_consent_above_the_channels_ceiling_is_refused(trio: Trio) -> None:
    with pytest.raises(InputInvalid, match="ceiling"):
        trio.rt["KOR"].consents.grant_consent(
            trio.user("KOR", Role.RELEASE_OFFICER),
            ConsentIn(
                recipient="JPN",
                kind=ConsentKind.LIVE_TRACKS,
                max_classification="TOP SECRET",
                modes=[StreamMode.EXERCISE],
            ),
        )
    assert trio.outbox("KOR") == []
