"""The events service on a real SQLite store: only what the user may read, latest versions,
recalls, drafts left out, and the cache following the holdings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness.factories import arrangement, product, signers

from tisa.blobs import keyfile
from tisa.blobs.store import BlobStore
from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.domain.markings import Classification
from tisa.domain.model import Estimate, Instant, MissileLaunch, NuclearTest, Product, Qualifier
from tisa.domain.states import ProductState
from tisa.domain.wire import manifest_to_wire
from tisa.errors import NotFound
from tisa.fusion import Quantity
from tisa.relay.context import NodeContext
from tisa.relay.gate import Gate
from tisa.relay.live_links import LiveLinks
from tisa.services.accounts import Role, User
from tisa.services.events import Events
from tisa.services.reading import Reading
from tisa.store import products
from tisa.store.database import Database

T = datetime(2017, 9, 3, 3, 30, tzinfo=UTC)
KOR_ID = "0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10"
JPN_ID = "7c3d9e21-5a4b-4f6c-8e1d-2b9a0c7f3e54"
USA_ID = "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
TS_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def user(name: str = "usa-analyst", **overrides: object) -> User:
    fields: dict[str, object] = {
        "username": name,
        "party": "USA",
        "role": Role.ANALYST,
        "clearance": Classification.SECRET,
        "need_to_know": frozenset({"*"}),
        "language": "en",
    }
    fields |= overrides
    return User(**fields)  # type: ignore[arg-type]


def seismic(original: str, magnitude: float) -> NuclearTest:
    at = datetime.fromisoformat(original)
    return NuclearTest(
        time=Instant(at.astimezone(UTC), original, Qualifier.EXACT),
        magnitude=Estimate(magnitude, Qualifier.EXACT),
    )


def report(
    pid: str, originator: str, magnitude: float, version: int = 1, **fields: object
) -> Product:
    return product(
        id=pid,
        version=version,
        originator=originator,
        topics=fields.pop("topics", {"dprk.nuclear.test"}),
        observations=(seismic("2017-09-03T12:30+09:00", magnitude),),
        created_at=T + timedelta(minutes=10 * version),
        **fields,
    )


class Store:
    """A node's real SQLite store with products put in as the node stores them."""

    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        trust = signers()["USA"]
        clock = lambda: T + timedelta(hours=1)  # noqa: E731
        ctx = NodeContext(
            party="USA",
            arrangement=trust.arrangement,
            trust=trust,
            gate=Gate("USA", trust.arrangement, clock),
            db=db,
            blobs=blobs,
            clock=clock,
            wake=lambda: None,
            count_denial=lambda _rule: None,
            live=LiveLinks(trust.arrangement.peers_of("USA")),
        )
        self.events = Events(Reading(ctx))

    def put(self, p: Product, state: str = "received") -> None:
        """Store `p` as the node would: signed by its originator, released here or received
        straight from it."""
        body = manifest_to_wire(p, arrangement().digest)
        token = signers()[p.originator].sign(Signed.PRODUCT, body)
        with self.db.begin() as conn:
            products.insert_product(
                conn,
                products.NewVersion(
                    product_id=p.id,
                    version=p.version,
                    originator=p.originator,
                    classification=int(p.classification),
                    precedence=p.precedence.value,
                    title=p.title,
                    topics=sorted(p.topics),
                    state=ProductState(state),
                    body=body,
                    manifest=token,
                    digest=payload_digest(token),
                    author=p.author,
                    created_at=p.created_at,
                    received_at=None
                    if state != "received"
                    else p.created_at + timedelta(seconds=3),
                    received_from=None if state != "received" else p.originator,
                ),
            )

    def recall(self, p: Product) -> None:
        with self.db.begin() as conn:
            products.mark_recalled(
                conn,
                p.id,
                p.version,
                recalled_at=T + timedelta(hours=2),
                recall=None,
                reason="wrong",
            )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}").open()
    key = tmp_path / "blob.key"
    keyfile.create_key(key)
    try:
        with BlobStore(tmp_path / "blobs", keyfile.load_key(key)) as blobs:
            yield Store(db, blobs)
    finally:
        db.close()


def test_reports_from_three_parties_make_one_event_with_a_disagreement(store: Store) -> None:
    store.put(report(KOR_ID, "KOR", 5.7))
    store.put(report(JPN_ID, "JPN", 6.1))
    store.put(report(USA_ID, "USA", 6.3), state="released")
    (event,) = store.events.events(user())
    assert event.parties == ("JPN", "KOR", "USA")
    assert any(d.quantity is Quantity.MAGNITUDE for d in event.disagreements)
    assert event.reports[0].received_at is not None
    assert store.events.event(user(), event.id) == event


def test_a_user_gets_no_figure_from_a_product_above_their_clearance(store: Store) -> None:
    store.put(report(KOR_ID, "KOR", 5.7))
    store.put(report(TS_ID, "USA", 6.3, classification=Classification.TOP_SECRET), "released")
    cleared = user("cleared", clearance=Classification.TOP_SECRET)
    (full,) = store.events.events(cleared)
    (seen,) = store.events.events(user())
    assert full.parties == ("KOR", "USA")
    assert seen.parties == ("KOR",)
    assert not seen.disagreements
    assert [s.product_id for s in seen.fused[Quantity.MAGNITUDE].sources] == [KOR_ID]
    assert seen.fused[Quantity.MAGNITUDE].value == 5.7


def test_a_user_without_need_to_know_gets_nothing_and_a_404(store: Store) -> None:
    store.put(report(KOR_ID, "KOR", 5.7))
    (event,) = store.events.events(user())
    missiles_only = user("narrow", need_to_know=frozenset({"dprk.missile.*"}))
    assert store.events.events(missiles_only) == ()
    with pytest.raises(NotFound):
        store.events.event(missiles_only, event.id)


def test_need_to_know_for_every_topic_of_a_product(store: Store) -> None:
    both = {"dprk.nuclear.test", "dprk.nuclear.site-activity"}
    store.put(report(KOR_ID, "KOR", 5.7, topics=both))
    store.put(report(JPN_ID, "JPN", 6.1))
    tests_only = user("tests", need_to_know=frozenset({"dprk.nuclear.test"}))
    (event,) = store.events.events(tests_only)
    assert event.parties == ("JPN",)


def test_unknown_ids_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no event ev-0000"):
        store.events.event(user(), "ev-0000000000000000")


def test_latest_version_counts_drafts_do_not_and_recalls_drop_out(store: Store) -> None:
    v1 = report(KOR_ID, "KOR", 5.6, version=1)
    v2 = report(KOR_ID, "KOR", 5.7, version=2)
    store.put(v1)
    store.put(v2)
    store.put(report(USA_ID, "USA", 6.3, version=1), state="released")
    store.put(report(USA_ID, "USA", 9.9, version=2), state="draft")
    (event,) = store.events.events(user())
    by_party = {r.source.originator: r for r in event.reports}
    assert by_party["KOR"].source.version == 2
    assert [p.version for p in by_party["KOR"].history] == [1]
    assert by_party["USA"].source.version == 1  # v2 is a draft
    store.recall(v2)
    (after,) = store.events.events(user())
    assert after.parties == ("USA",)


def test_products_without_observations_are_ignored(store: Store) -> None:
    store.put(product(id=KOR_ID, observations=()))
    assert store.events.events(user()) == ()


def test_the_cache_follows_the_holdings(store: Store) -> None:
    store.put(report(KOR_ID, "KOR", 5.7))
    first = store.events.events(user())
    assert store.events.events(user()) is first  # nothing changed: from the cache
    store.put(report(JPN_ID, "JPN", 6.1))
    (second,) = store.events.events(user())
    assert second.parties == ("JPN", "KOR")


def test_launches_come_through_too(store: Store) -> None:
    launch = MissileLaunch(
        time=Instant(T, "2017-09-03T12:30+09:00"), range_km=Estimate(570, Qualifier.ABOUT)
    )
    store.put(product(id=KOR_ID, observations=(launch,), created_at=T))
    (event,) = store.events.events(user())
    assert event.label == "Missile launch 2017-09-03 03:30Z"
