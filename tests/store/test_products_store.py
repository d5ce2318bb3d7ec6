"""Products, deliveries, consents and consent requests in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import pages
from harness.waiting import wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tisa.domain.states import DeliveryState, ProductState
from tisa.errors import Damaged
from tisa.store import consents, deliveries, products
from tisa.store.consents import ConsentRow, RequestRow
from tisa.store.database import Database
from tisa.store.tables import consent_requests

T0 = datetime(2024, 1, 14, 5, 55, tzinfo=UTC)
PID = "0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10"
OTHER = "7c3d9e21-5a4b-4f6c-8e1d-2b9a0c7f3e54"


def add_product(
    db: Database,
    product_id: str = PID,
    version: int = 1,
    *,
    created_at: datetime = T0,
    state: str = "draft",
    originator: str = "KOR",
) -> None:
    with db.begin() as conn:
        products.insert_product(
            conn,
            products.NewVersion(
                product_id=product_id,
                version=version,
                originator=originator,
                classification=2,
                precedence="FLASH",
                title=f"launch v{version}",
                topics=["dprk.missile.launch"],
                state=ProductState(state),
                body={"id": product_id, "version": version, "title": "극비 발사 / 機密"},
                author="kor.analyst",
                created_at=created_at,
            ),
        )


# -- products ------------------------------------------------------------------------------------


def test_a_product_round_trips(db: Database) -> None:
    add_product(db)
    with db.read() as conn:
        row = products.get(conn, PID, 1)
    assert row is not None
    assert (row.product_id, row.version, row.originator, row.state) == (PID, 1, "KOR", "draft")
    assert row.body == {"id": PID, "version": 1, "title": "극비 발사 / 機密"}
    assert row.created_at == T0
    assert row.created_at.utcoffset() == timedelta(0)
    assert (row.manifest, row.digest, row.released_at, row.recalled_at) == (None,) * 4


def test_unknown_products_and_versions_are_none(db: Database) -> None:
    add_product(db)
    with db.read() as conn:
        assert products.get(conn, PID, 2) is None
        assert products.get(conn, OTHER, 1) is None
        assert products.latest_version(conn, OTHER) is None
        assert products.versions(conn, OTHER) == []
        assert deliveries.deliveries_of(conn, OTHER) == []


def test_versions_latest_and_count(db: Database) -> None:
    for version in (1, 2, 3):
        add_product(db, version=version, created_at=T0 + timedelta(minutes=version))
    add_product(db, OTHER, created_at=T0 + timedelta(minutes=10), state="received")
    with db.read() as conn:
        assert [r.version for r in products.versions(conn, PID)] == [1, 2, 3]
        assert products.latest_version(conn, PID) == 3
        assert products.count(conn) == 4
        assert products.count(conn, state="received") == 1
        newest = products.listing(conn)
        assert [(r.product_id, r.version) for r in newest] == [(OTHER, 1), (PID, 3)]
        assert [r.product_id for r in products.listing(conn, states=["draft"])] == [PID]
        assert [r.product_id for r in products.listing(conn, limit=1)] == [OTHER]
        assert products.listing(conn, originator="JPN") == []


def test_a_second_insert_of_the_same_version_is_refused(db: Database) -> None:
    add_product(db)
    with pytest.raises(IntegrityError):
        add_product(db)
    with db.read() as conn:
        assert products.count(conn) == 1


def test_releasing_changes_only_that_version_and_only_a_draft(db: Database) -> None:
    add_product(db, version=1)
    add_product(db, version=2)
    digest = "sha256:" + "0" * 64

    def release(version: int) -> bool:
        with db.begin() as conn:
            return products.mark_released(
                conn, PID, version, manifest="m", digest=digest, released_at=T0, released_by="o"
            )

    assert release(1)
    with db.read() as conn:
        one, two = products.versions(conn, PID)
    assert (one.state, one.released_at, one.digest) == ("released", T0, digest)
    assert (two.state, two.released_at) == ("draft", None)
    # Released is for good: not again, and the content of a released version is not revised.
    assert not release(1)
    with db.begin() as conn:
        assert not products.revise_draft(
            conn, PID, 1, classification=1, precedence="ROUTINE", title="t", topics=[], body={}
        )
        assert products.revise_draft(
            conn, PID, 2, classification=1, precedence="ROUTINE", title="t", topics=[], body={}
        )
        assert products.mark_recalled(conn, PID, 1, recalled_at=T0, recall=None, reason="r")
        assert not products.mark_recalled(conn, PID, 1, recalled_at=T0, recall=None, reason="r")


# -- deliveries ----------------------------------------------------------------------------------


def delivery(db: Database, party: str = "JPN", version: int = 1) -> deliveries.DeliveryRow:
    with db.read() as conn:
        rows = [d for d in deliveries.deliveries_of(conn, PID, version) if d.party == party]
    assert len(rows) == 1
    return rows[0]


def set_state(db: Database, state: str, at: datetime, party: str = "JPN", **extra: Any) -> bool:
    with db.begin() as conn:
        return deliveries.set_delivery(conn, PID, 1, party, DeliveryState(state), at, **extra)


def test_delivery_states_advance(db: Database) -> None:
    add_product(db)
    set_state(db, "queued", T0, detail="via USA", via="USA")
    first = delivery(db)
    assert (first.state, first.detail, first.via, first.queued_at) == (
        "queued",
        "via USA",
        "USA",
        T0,
    )
    set_state(db, "held", T0 + timedelta(seconds=1), detail="awaiting consent")
    set_state(db, "sent", T0 + timedelta(seconds=2))
    row = delivery(db)
    assert (row.state, row.via, row.queued_at) == ("sent", "USA", T0)
    assert row.updated_at == T0 + timedelta(seconds=2)


@pytest.mark.parametrize("later", ["queued", "sent", "held", "denied"])
def test_a_delivered_state_is_never_walked_back(db: Database, later: str) -> None:
    add_product(db)
    set_state(db, "sent", T0)
    delivered_at = T0 + timedelta(seconds=5)
    set_state(
        db,
        "delivered",
        T0 + timedelta(seconds=6),
        receipt="receipt-1",
        delivered_at=delivered_at,
        via="USA",
    )
    set_state(db, later, T0 + timedelta(seconds=9), detail="late news", via="JPN")
    row = delivery(db)
    assert (row.state, row.receipt, row.delivered_at, row.via) == (
        "delivered",
        "receipt-1",
        delivered_at,
        "USA",
    )
    assert row.updated_at == T0 + timedelta(seconds=6)
    assert row.detail != "late news"


def test_a_delivered_state_takes_a_later_receipt(db: Database) -> None:
    add_product(db)
    set_state(db, "delivered", T0, receipt="receipt-1", delivered_at=T0)
    set_state(db, "delivered", T0 + timedelta(seconds=1), receipt="receipt-2")
    row = delivery(db)
    assert (row.state, row.receipt, row.delivered_at) == ("delivered", "receipt-2", T0)


def test_deliveries_are_per_version_and_party(db: Database) -> None:
    add_product(db, version=1)
    add_product(db, version=2)
    set_state(db, "delivered", T0, party="USA")
    set_state(db, "queued", T0, party="JPN")
    with db.begin() as conn:
        deliveries.set_delivery(conn, PID, 2, "USA", DeliveryState.QUEUED, T0)
    with db.read() as conn:
        everything = [(d.version, d.party, d.state) for d in deliveries.deliveries_of(conn, PID)]
        first = [(d.version, d.party) for d in deliveries.deliveries_of(conn, PID, 1)]
    assert everything == [(1, "JPN", "queued"), (1, "USA", "delivered"), (2, "USA", "queued")]
    assert first == [(1, "JPN"), (1, "USA")]


_VERSIONS = itertools.count(100)


@given(st.lists(st.sampled_from(DeliveryState), min_size=1, max_size=6))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_delivery_states_only_move_forward(db: Database, steps: list[DeliveryState]) -> None:
    """Whatever order the news arrives in, a state moves only as `DeliveryState.before`
    allows, and a refused move changes nothing."""
    version = next(_VERSIONS)  # a fresh version per example: the database outlives them
    add_product(db, version=version)
    current: DeliveryState | None = None
    for n, step in enumerate(steps):
        with db.begin() as conn:
            moved = deliveries.set_delivery(
                conn, PID, version, "JPN", step, T0 + timedelta(seconds=n), detail=str(n)
            )
        allowed = current is None or current in step.before()
        assert moved is allowed
        if allowed:
            current = step
        row = delivery(db, version=version)
        assert row.state == current
        if not allowed:
            assert row.detail != str(n)


def test_holders_are_the_parties_a_version_went_or_is_going_to(db: Database) -> None:
    add_product(db)
    for party, state in (("USA", "delivered"), ("JPN", "sent"), ("GBR", "queued")):
        set_state(db, state, T0, party=party)
    for party, state in (("AUS", "held"), ("CAN", "denied")):
        set_state(db, state, T0, party=party)
    with db.read() as conn:
        assert sorted(deliveries.holders(conn, PID, 1)) == ["GBR", "JPN", "USA"]
        assert deliveries.holders(conn, PID, 2) == []


# -- consents ------------------------------------------------------------------------------------


def consent_row(consent_id: str | None = None, **changes: Any) -> ConsentRow:
    fields: dict[str, Any] = {
        "consent_id": consent_id or str(uuid.uuid4()),
        "originator": "KOR",
        "recipient": "JPN",
        "product_id": None,
        "token": "eyJ.consent.sig",
        "terms": {"topics": ["dprk.missile.*"], "max_classification": "SECRET"},
        "issued_at": T0,
        "expires_at": T0 + timedelta(days=30),
        "revoked_at": None,
        "revocation": None,
        "created_by": "kor.officer",
    }
    fields.update(changes)
    return ConsentRow(**fields)


def test_a_consent_is_stored_once(db: Database) -> None:
    row = consent_row()
    with db.begin() as conn:
        assert consents.add(conn, row) is True
        assert consents.add(conn, consent_row(row.consent_id, recipient="USA")) is False
    with db.read() as conn:
        assert consents.get(conn, row.consent_id) == row
        assert consents.for_originator(conn) == [row]


def test_consents_list_newest_first_and_by_originator(db: Database) -> None:
    old = consent_row(issued_at=T0)
    new = consent_row(issued_at=T0 + timedelta(hours=1), expires_at=None)
    japan = consent_row(originator="JPN", recipient="KOR", issued_at=T0 + timedelta(hours=2))
    with db.begin() as conn:
        for row in (old, new, japan):
            consents.add(conn, row)
    with db.read() as conn:
        assert [c.consent_id for c in consents.for_originator(conn)] == [
            japan.consent_id,
            new.consent_id,
            old.consent_id,
        ]
        assert [c.consent_id for c in consents.for_originator(conn, "KOR")] == [
            new.consent_id,
            old.consent_id,
        ]


def test_a_revocation_is_kept_once(db: Database) -> None:
    row = consent_row()
    with db.begin() as conn:
        consents.add(conn, row)
        consents.revoke(conn, row.consent_id, T0 + timedelta(hours=1), "revocation-1")
        consents.revoke(conn, row.consent_id, T0 + timedelta(hours=2), "revocation-2")
    with db.read() as conn:
        held = consents.get(conn, row.consent_id)
    assert held is not None
    assert (held.revoked_at, held.revocation) == (T0 + timedelta(hours=1), "revocation-1")


# -- consent requests ----------------------------------------------------------------------------


def request_row(
    product_id: str = PID, version: int = 1, recipient: str = "JPN", **changes: Any
) -> RequestRow:
    fields: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "product_id": product_id,
        "version": version,
        "originator": "KOR",
        "recipient": recipient,
        "state": "open",
        "token": "eyJ.request.sig",
        "requested_at": T0,
        "decided_at": None,
        "decided_by": None,
        "reason": None,
    }
    fields.update(changes)
    return RequestRow(**fields)


def test_one_consent_request_per_product_version_and_recipient(db: Database) -> None:
    first = request_row()
    with db.begin() as conn:
        assert consents.add_request(conn, first) is True
        assert consents.add_request(conn, request_row()) is False  # same target, new id
        assert consents.add_request(conn, request_row(state="denied")) is False
        assert consents.add_request(conn, request_row(version=2)) is True
        assert consents.add_request(conn, request_row(recipient="USA")) is True
        assert consents.add_request(conn, request_row(OTHER)) is True
    with db.read() as conn:
        held = consents.requests(conn)
    assert len(held) == 4
    assert sum(1 for r in held if (r.product_id, r.version, r.recipient) == (PID, 1, "JPN")) == 1
    with db.read() as conn:
        assert consents.get_request(conn, first.request_id) == first


def test_the_database_itself_refuses_a_second_request_for_a_target(db: Database) -> None:
    with db.begin() as conn:
        conn.execute(insert(consent_requests).values(**request_row().__dict__))
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(insert(consent_requests).values(**request_row().__dict__))


def test_deciding_a_request(db: Database) -> None:
    one, two = request_row(), request_row(version=2, requested_at=T0 + timedelta(minutes=1))
    with db.begin() as conn:
        consents.add_request(conn, one)
        consents.add_request(conn, two)
        consents.decide_request(
            conn, one.request_id, "denied", T0 + timedelta(hours=1), "kor.officer", "sources"
        )
    with db.read() as conn:
        decided = consents.get_request(conn, one.request_id)
        assert [r.request_id for r in consents.requests(conn)] == [two.request_id, one.request_id]
        assert [r.request_id for r in consents.requests(conn, "open")] == [two.request_id]
        assert [r.version for r in consents.open_requests_for(conn, PID, "JPN")] == [2]
        assert consents.open_requests_for(conn, PID, "USA") == []
    assert decided is not None
    assert (decided.state, decided.decided_by, decided.reason) == (
        "denied",
        "kor.officer",
        "sources",
    )
    assert decided.decided_at == T0 + timedelta(hours=1)


@pytest.mark.postgres
def test_postgres_racing_requests_for_one_target_give_one_row_and_no_error(
    pg_databases: Any,
) -> None:
    # A database of its own: a second connection waits on the first one's lock.
    db = Database(pg_databases.new()).open()
    try:
        outcome: dict[str, Any] = {}
        with db.engine.connect() as first:
            tx = first.begin()
            assert consents.add_request(first, request_row()) is True

            def second() -> None:
                try:
                    with db.begin() as conn:
                        outcome["fresh"] = consents.add_request(conn, request_row())
                except Exception as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=second)
            thread.start()
            _wait_for_a_lock_wait(db)
            tx.commit()
            thread.join(timeout=30)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["fresh"] is False
        with db.read() as conn:
            assert len(consents.requests(conn)) == 1
    finally:
        db.close()


def _wait_for_a_lock_wait(db: Database, timeout: float = 20.0) -> None:
    """Until some session of this database waits on a lock (the second insert)."""

    def waiting() -> bool:
        with db.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar()
            )

    wait_for(waiting, "the second transaction waiting on the first", timeout, poll=0.02)


@pytest.mark.postgres
def test_a_receipt_racing_a_late_sent_is_never_walked_back(pg_databases: Any) -> None:
    """On PostgreSQL (where writers do not take turns as on SQLite) the sender records "sent"
    while the receipt handler records "delivered", each in its own transaction, at the same
    moment, many times over: every one ends "delivered" (the two used to interleave a read
    and a write and walk it back)."""
    # A database of its own: two threads' transactions race, each on its own connection.
    with Database(pg_databases.new()) as db:
        _race(db)


def _race(db: Database) -> None:
    versions = range(300, 360)
    for version in versions:
        add_product(db, version=version)
        with db.begin() as conn:
            deliveries.set_delivery(conn, PID, version, "JPN", DeliveryState.QUEUED, T0)

    def record(version: int, state: DeliveryState, start: threading.Barrier) -> None:
        with db.begin() as conn:
            start.wait()
            deliveries.set_delivery(conn, PID, version, "JPN", state, T0, receipt="r")

    for version in versions:
        start = threading.Barrier(2)
        racers = [
            threading.Thread(target=record, args=(version, state, start))
            for state in (DeliveryState.SENT, DeliveryState.DELIVERED)
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=30)
    with db.read() as conn:
        states = {
            d.version: d.state
            for d in deliveries.deliveries_of(conn, PID)
            if d.version in versions and d.party == "JPN"
        }
    assert states == dict.fromkeys(versions, "delivered")


# -- a damaged page --------------------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path: Path) -> Iterator[tuple[Database, set[str], set[str]]]:
    """A SQLite store of 150 products, three leaf pages of `products` then overwritten with
    zeros (the store closed meanwhile); the store, the ids lost and the ids kept."""
    path = tmp_path / "store.db"
    db = Database(f"sqlite:///{path}").open()
    ids = [str(uuid.uuid4()) for _ in range(150)]
    for i, product_id in enumerate(ids):
        state = "released" if i % 2 else "draft"
        add_product(db, product_id, created_at=T0 + timedelta(minutes=i), state=state)
    db.close()
    victims = pages.leaves(path, "products")[3:6]
    lost = pages.holding(path, victims, ids)
    pages.zero(path, victims)
    db.open()
    try:
        yield db, lost, set(ids) - lost
    finally:
        db.close()


def test_a_row_on_a_damaged_page_is_damaged_never_missing(
    damaged: tuple[Database, set[str], set[str]],
) -> None:
    db, lost, kept = damaged
    assert lost
    victim = sorted(lost)[0]
    with db.read() as conn:
        with pytest.raises(Damaged) as caught:
            products.get(conn, victim, 1)
        assert caught.value.reason == (
            f"product {victim} v1: the products table is damaged (database disk image is "
            "malformed); run `tisa check`"
        )
        with pytest.raises(Damaged, match=victim):
            products.versions(conn, victim)
        for product_id in kept:
            row = products.get(conn, product_id, 1)
            assert row is not None
            assert row.product_id == product_id


def test_a_listing_reads_every_row_it_can_and_names_the_rest(
    damaged: tuple[Database, set[str], set[str]],
) -> None:
    db, lost, kept = damaged
    with db.read() as conn:
        with pytest.raises(SQLAlchemyError, match="malformed"):
            products.listing(conn, limit=1000)
        listed = products.readable_listing(conn, limit=1000)
        assert {r.product_id for r in listed.rows} == kept
        assert {u.product_id for u in listed.unreadable} == lost
        assert all("malformed" in str(u) for u in listed.unreadable)
        newest = [r.created_at for r in listed.rows]
        assert newest == sorted(newest, reverse=True)
        drafts = products.readable_listing(conn, states=["draft"], limit=5)
        assert len(drafts.rows) == 5
        assert all(r.state == "draft" for r in drafts.rows)
        walked = list(products.walk(conn, batch=16))
    assert {w.product_id for w in walked if isinstance(w, products.ProductRow)} == kept
    assert {w.product_id for w in walked if isinstance(w, products.Unreadable)} == lost


def test_a_whole_store_lists_and_walks_as_before(db: Database) -> None:
    add_product(db)
    add_product(db, PID, 2, created_at=T0 + timedelta(minutes=2))
    add_product(db, OTHER, created_at=T0 + timedelta(minutes=1))
    with db.read() as conn:
        listed = products.readable_listing(conn)
        walked = list(products.walk(conn, batch=2))
    assert [(r.product_id, r.version) for r in listed.rows] == [(PID, 2), (OTHER, 1)]
    assert listed.unreadable == []
    assert [(r.product_id, r.version) for r in walked] == sorted([(PID, 1), (PID, 2), (OTHER, 1)])
