"""The inbox as the store reads it, on SQLite and PostgreSQL: the newest version of each
product, newest first, filtered, searched and walked a page at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tisa.domain.states import ProductState
from tisa.domain.terms import query_terms
from tisa.store import inbox, products, reads
from tisa.store.database import Database
from tisa.store.inbox import Filters, Position
from tisa.store.products import ProductRow
from tisa.store.tables import product_topics

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def add(
    db: Database,
    *,
    product_id: str | None = None,
    version: int = 1,
    at: datetime = T0,
    title: str = "launch report",
    text: str = "details follow",
    topics: tuple[str, ...] = ("dprk.missile.launch",),
    originator: str = "KOR",
    classification: int = 2,
    precedence: str = "ROUTINE",
    state: str = "draft",
    received: bool = False,
) -> str:
    pid = product_id or str(uuid.uuid4())
    with db.begin() as conn:
        products.insert_product(
            conn,
            products.NewVersion(
                product_id=pid,
                version=version,
                originator=originator,
                classification=classification,
                precedence=precedence,
                title=title,
                topics=list(topics),
                state=ProductState(state),
                body={"title": title, "text": text},
                author="kor.analyst",
                created_at=at - timedelta(hours=1) if received else at,
                received_from="USA" if received else None,
                received_at=at if received else None,
            ),
        )
    return pid


def walk(db: Database, filters: Filters | None = None, size: int = 2) -> list[ProductRow]:
    """Every page, `size` rows at a time, from a walk that starts now."""
    filters = filters or Filters()
    with db.read() as conn:
        top = inbox.horizon(conn)
    at = Position(top, top + 1)
    seen: list[ProductRow] = []
    while True:
        with db.read() as conn:
            rows = inbox.page(conn, filters, at, size)
        seen.extend(rows)
        if len(rows) < size:
            return seen
        at = Position(top, rows[-1].listed_us)


def keys(rows: list[ProductRow]) -> list[tuple[str, int]]:
    return [(r.product_id, r.version) for r in rows]


def test_each_product_once_at_its_newest_version_newest_first(db: Database) -> None:
    a = add(db, at=T0)
    b = add(db, at=T0 + timedelta(minutes=1))
    add(db, product_id=a, version=2, at=T0 + timedelta(minutes=2))
    c = add(db, at=T0 + timedelta(minutes=3))
    assert keys(walk(db)) == [(c, 1), (a, 2), (b, 1)]
    assert keys(walk(db, size=1)) == [(c, 1), (a, 2), (b, 1)]


def test_listing_follows_the_order_of_arrival_strictly(db: Database) -> None:
    # Two versions stored with the same time still get distinct, rising places.
    first = add(db, at=T0)
    second = add(db, at=T0)
    late = add(db, at=T0 - timedelta(days=1))  # an old product received now
    with db.read() as conn:
        rows = {r.product_id: r.listed_us for r in inbox.page(conn, Filters(), _top(conn), 10)}
    assert rows[first] < rows[second] < rows[late]


def _top(conn: Any) -> Position:
    top = inbox.horizon(conn)
    return Position(top, top + 1)


def test_a_version_arriving_after_a_later_one_is_never_the_newest(db: Database) -> None:
    pid = str(uuid.uuid4())
    add(db, product_id=pid, version=2, at=T0)
    add(db, product_id=pid, version=1, at=T0 + timedelta(minutes=1))
    assert keys(walk(db)) == [(pid, 2)]
    with db.read() as conn:
        latest = products.latest(conn, pid)
    assert latest is not None
    assert latest.version == 2


def test_a_walk_sees_the_store_as_it_stood_when_it_began(db: Database) -> None:
    old = [add(db, at=T0 + timedelta(minutes=i)) for i in range(4)]
    with db.read() as conn:
        start = _top(conn)
        first = inbox.page(conn, Filters(), start, 2)
    assert [r.product_id for r in first] == [old[3], old[2]]
    # Meanwhile: a new product, and a new version of one not reached yet.
    fresh = add(db, at=T0 + timedelta(minutes=10))
    add(db, product_id=old[0], version=2, at=T0 + timedelta(minutes=11))
    with db.read() as conn:
        rest = inbox.page(conn, Filters(), Position(start.horizon_us, first[-1].listed_us), 10)
    assert keys(rest) == [(old[1], 1), (old[0], 1)]
    # A new walk sees both changes, at the top.
    assert keys(walk(db)) == [(old[0], 2), (fresh, 1), (old[3], 1), (old[2], 1), (old[1], 1)]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(family="dprk.missile"), {"launch", "test-site"}),
        (Filters(family="dprk.missile.launch"), {"launch"}),
        (Filters(family="dprk"), {"launch", "test-site", "nuclear"}),
        (Filters(family="dprk.miss"), set()),
        (Filters(originator="JPN"), {"test-site"}),
        (Filters(classification=3), {"nuclear"}),
        (Filters(precedence="FLASH"), {"launch"}),
        (Filters(states=("received",)), {"test-site"}),
        (Filters(states=("draft", "received")), {"launch", "test-site", "nuclear"}),
        (Filters(originator="KOR", classification=2), {"launch"}),
    ],
)
def test_filters_narrow_by_index(db: Database, filters: Filters, expected: set[str]) -> None:
    add(db, title="launch", topics=("dprk.missile.launch",), precedence="FLASH")
    add(
        db,
        title="test-site",
        topics=("dprk.missile.engine-test", "dprk.nuclear.site"),
        originator="JPN",
        state="received",
        received=True,
    )
    add(db, title="nuclear", topics=("dprk.nuclear.test",), classification=3)
    assert {r.body["title"] for r in walk(db, filters)} == expected


def test_the_date_range_is_when_the_node_listed_the_version(db: Database) -> None:
    early = add(db, at=T0)
    mid = add(db, at=T0 + timedelta(days=1))
    add(db, at=T0 + timedelta(days=2))
    since, until = products.micros(T0 + timedelta(hours=1)), products.micros(T0 + timedelta(days=2))
    assert [r.product_id for r in walk(db, Filters(since_us=since, until_us=until))] == [mid]
    assert [r.product_id for r in walk(db, Filters(until_us=since))] == [early]


def test_unread_leaves_out_what_that_user_opened(db: Database) -> None:
    seen = add(db, at=T0)
    fresh = add(db, at=T0 + timedelta(minutes=1))
    with db.begin() as conn:
        reads.mark(conn, "kor.analyst", seen, 1, T0)
    assert [r.product_id for r in walk(db, Filters(unread_by="kor.analyst"))] == [fresh]
    assert len(walk(db, Filters(unread_by="someone.else"))) == 2
    # A new version is unread again.
    add(db, product_id=seen, version=2, at=T0 + timedelta(minutes=2))
    assert len(walk(db, Filters(unread_by="kor.analyst"))) == 2


def search(db: Database, q: str) -> set[str]:
    return {r.body["title"] for r in walk(db, Filters(terms=tuple(query_terms(q))), size=5)}


def test_search_finds_words_in_title_and_text_whatever_their_case(db: Database) -> None:
    add(db, title="Hwasong-18 launch", text="A solid-fuel ICBM flew 1,000 km.")
    add(db, title="Yongbyon reactor", text="Steam seen at the reactor.")
    assert search(db, "hwasong") == {"Hwasong-18 launch"}
    assert search(db, "ICBM solid") == {"Hwasong-18 launch"}
    assert search(db, "REACTOR") == {"Yongbyon reactor"}
    assert search(db, "reactor icbm") == set()
    assert search(db, "launch") == {"Hwasong-18 launch"}


def test_search_finds_korean_and_japanese_without_spaces(db: Database) -> None:
    add(db, title="북한 탄도미사일 발사", text="동해상으로 핵 관련 활동")
    add(db, title="弾道ミサイル発射", text="日本海に落下した。")
    add(db, title="unrelated", text="미사 and サイ alone")
    assert search(db, "미사일") == {"북한 탄도미사일 발사"}
    assert search(db, "ミサイル") == {"弾道ミサイル発射"}
    assert search(db, "核") == set()
    assert search(db, "핵") == {"북한 탄도미사일 발사"}
    assert search(db, "日本海") == {"弾道ミサイル発射"}
    assert search(db, "미사") == {"북한 탄도미사일 발사", "unrelated"}


def test_search_reads_each_product_at_its_newest_version(db: Database) -> None:
    pid = add(db, title="first draft about engines")
    add(db, product_id=pid, version=2, title="second about reactors")
    assert search(db, "engines") == set()
    assert search(db, "reactors") == {"second about reactors"}


def test_revising_a_draft_reindexes_its_words_and_topics(db: Database) -> None:
    pid = add(db, title="about engines", topics=("dprk.missile.launch",))
    with db.begin() as conn:
        assert products.revise_draft(
            conn,
            pid,
            1,
            classification=2,
            precedence="ROUTINE",
            title="about reactors",
            topics=["dprk.nuclear.test"],
            body={"title": "about reactors", "text": "cooling tower"},
        )
    assert search(db, "engines") == set()
    assert search(db, "reactors tower") == {"about reactors"}
    assert walk(db, Filters(family="dprk.missile")) == []
    with db.read() as conn:
        families = set(conn.execute(select(product_topics.c.family)).scalars())
    assert families == {"dprk", "dprk.nuclear", "dprk.nuclear.test"}


def test_search_terms_are_literals_never_query_syntax(db: Database) -> None:
    add(db, title="plain words")
    hostile = ('"', "'", "NEAR", "*", "OR", "&", "!", ":", "\\")
    for word in hostile:
        assert walk(db, Filters(terms=(word,))) == []
    assert walk(db, Filters(terms=("words", "OR"))) == []
