"""The paged inbox: the gate decides every row, a walk shows each product the reader may see
exactly once and in order while products arrive and gain versions, cursors are this node's."""

from __future__ import annotations

import uuid

import pytest
from harness.factories import draft
from harness.trio import Trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tisa.domain.markings import Classification
from tisa.domain.wire import DraftIn, parse
from tisa.errors import CursorInvalid, InputInvalid
from tisa.services.accounts import Role, User
from tisa.services.inbox import InboxQuery, Page
from tisa.store import products


def _reader(trio: Trio, clearance: str, need_to_know: list[str]) -> User:
    return trio.rt["KOR"].accounts.add(
        f"kor-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, Role.ANALYST, clearance, need_to_know
    )


def _draft(trio: Trio, **fields: object) -> str:
    body = parse(DraftIn, draft("KOR", observations=[], **fields))
    return trio.rt["KOR"].drafts.create(trio.user("KOR", Role.ANALYST), body).id


def _amend(trio: Trio, product_id: str, **fields: object) -> None:
    rt = trio.rt["KOR"]
    with rt.ctx.db.read() as conn:
        row = products.latest(conn, product_id)
    assert row is not None
    if row.state == "draft":
        rt.releases.release(trio.user("KOR", Role.RELEASE_OFFICER), product_id, row.version)
    body = parse(DraftIn, draft("KOR", observations=[], **fields))
    rt.drafts.amend(trio.user("KOR", Role.ANALYST), product_id, body)


def _walk(trio: Trio, user: User, query: InboxQuery, limit: int) -> list[Page]:
    pages = [trio.rt["KOR"].inbox.page(user, query, limit=limit)]
    while pages[-1].next_cursor is not None:
        cursor = pages[-1].next_cursor
        pages.append(trio.rt["KOR"].inbox.page(user, query, cursor=cursor, limit=limit))
    return pages


def _visible_now(trio: Trio, user: User) -> list[tuple[str, int]]:
    """The newest version of each product held, newest first, that the gate lets `user` see."""
    rt = trio.rt["KOR"]
    with rt.ctx.db.read() as conn:
        rows = products.listing(conn, limit=1_000_000)
    rows.sort(key=lambda r: r.listed_us, reverse=True)
    return [(r.product_id, r.version) for r in rows if rt.reading.visible(user, r) is not None]


LEVELS = ["CONFIDENTIAL", "SECRET"]
TOPICS = ["dprk.missile.launch", "dprk.nuclear.test"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(
        st.tuples(st.sampled_from(LEVELS), st.sampled_from(TOPICS)), min_size=1, max_size=6
    ),
    during=st.lists(
        st.one_of(
            st.just(("page", "", "")),
            st.tuples(st.just("new"), st.sampled_from(LEVELS), st.sampled_from(TOPICS)),
            st.tuples(st.just("amend"), st.sampled_from(LEVELS), st.sampled_from(TOPICS)),
        ),
        max_size=12,
    ),
    limit=st.integers(min_value=1, max_value=3),
)
def test_a_walk_shows_each_visible_product_once_in_order_while_the_store_changes(
    trio: Trio,
    before: list[tuple[str, str]],
    during: list[tuple[str, str, str]],
    limit: int,
) -> None:
    reader = _reader(trio, "CONFIDENTIAL", ["*"])
    made = [_draft(trio, classification=c, topics=[t]) for c, t in before]
    expected = _visible_now(trio, reader)
    inbox, query = trio.rt["KOR"].inbox, InboxQuery()

    shown: list[tuple[str, int]] = []
    page = inbox.page(reader, query, limit=limit)
    for op, level, topic in during:
        shown.extend((h.row.product_id, h.row.version) for h in page.held)
        if op == "new":
            made.append(_draft(trio, classification=level, topics=[topic]))
        elif op == "amend" and made:
            # The oldest: the one a walk reaches last, so it is most often not reached yet.
            _amend(trio, made[0], classification=level, topics=[topic])
        if page.next_cursor is None:
            page = Page([])
            continue
        if op == "page":
            page = inbox.page(reader, query, cursor=page.next_cursor, limit=limit)
        else:
            page = Page([], 0, page.next_cursor)
    while True:
        shown.extend((h.row.product_id, h.row.version) for h in page.held)
        if page.next_cursor is None:
            break
        page = inbox.page(reader, query, cursor=page.next_cursor, limit=limit)
    assert shown == expected
    # A new walk sees the store as it is now.
    now = [(h.row.product_id, h.row.version) for p in _walk(trio, reader, query, 2) for h in p.held]
    assert now == _visible_now(trio, reader)


def test_the_gate_decides_every_row_whatever_the_filters(trio: Trio) -> None:
    for level in ("CONFIDENTIAL", "SECRET", "TOP_SECRET"):
        for topic in TOPICS:
            _draft(trio, classification=level, topics=[topic], title=f"미사일 {level} {topic}")
    reader = _reader(trio, "CONFIDENTIAL", ["dprk.missile.*"])
    queries = [
        InboxQuery(),
        InboxQuery(q="미사일"),
        InboxQuery(topic="dprk"),
        InboxQuery(topic="dprk.nuclear"),
        InboxQuery(classification=Classification.TOP_SECRET),
        InboxQuery(unread=True, originator="KOR"),
    ]
    for query in queries:
        for limit in (1, 2, 50):
            held = [h for p in _walk(trio, reader, query, limit) for h in p.held]
            for h in held:
                assert h.product.classification is Classification.CONFIDENTIAL
                assert all(t.startswith("dprk.missile.") for t in h.product.topics)
            wanted = query.topic in (None, "dprk") and query.classification is None
            assert len(held) == (1 if wanted else 0), query
    # Someone with no need-to-know for these topics sees nothing at all.
    stranger = _reader(trio, "TOP_SECRET", ["dprk.other.*"])
    assert [p.held for p in _walk(trio, stranger, InboxQuery(), 1)] == [[]]


def test_filters_narrow_what_the_reader_may_see(trio: Trio) -> None:
    launch = _draft(
        trio, topics=["dprk.missile.launch"], title="Hwasong launch", precedence="FLASH"
    )
    test = _draft(trio, topics=["dprk.nuclear.test"], title="Punggye-ri test", precedence="ROUTINE")
    reader = _reader(trio, "SECRET", ["*"])
    inbox = trio.rt["KOR"].inbox

    def ids(query: InboxQuery) -> list[str]:
        return [h.row.product_id for h in inbox.page(reader, query).held]

    assert ids(InboxQuery()) == [test, launch]
    assert ids(InboxQuery(topic="dprk.missile")) == [launch]
    assert ids(InboxQuery(q="PUNGGYE")) == [test]
    assert ids(InboxQuery(q="hwasong", topic="dprk.nuclear")) == []
    held = trio.rt["KOR"].reading.read(reader, launch)
    trio.rt["KOR"].reading.mark_read(reader, held)
    assert ids(InboxQuery(unread=True)) == [test]


def test_a_cursor_is_good_only_for_its_reader_and_query(trio: Trio) -> None:
    for _ in range(3):
        _draft(trio)
    reader, other = _reader(trio, "SECRET", ["*"]), _reader(trio, "SECRET", ["*"])
    inbox = trio.rt["KOR"].inbox
    cursor = inbox.page(reader, InboxQuery(), limit=1).next_cursor
    assert cursor is not None
    assert len(inbox.page(reader, InboxQuery(), cursor=cursor, limit=1).held) == 1
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    bad = [flipped, cursor[:10], "not a cursor", "", "ÿÿÿ", cursor + "AA"]
    for wrong in bad:
        with pytest.raises(CursorInvalid, match="cursor: not one this node gave you"):
            inbox.page(reader, InboxQuery(), cursor=wrong, limit=1)
    with pytest.raises(CursorInvalid):
        inbox.page(other, InboxQuery(), cursor=cursor, limit=1)
    with pytest.raises(CursorInvalid):
        inbox.page(reader, InboxQuery(q="launch"), cursor=cursor, limit=1)
    # Another node's cursor for the same query: another key.
    usa_reader = trio.user("USA", Role.ANALYST)
    usa_cursor = inbox.page(reader, InboxQuery(), limit=1).next_cursor
    assert usa_cursor is not None
    with pytest.raises(CursorInvalid):
        trio.rt["USA"].inbox.page(usa_reader, InboxQuery(), cursor=usa_cursor, limit=1)


@pytest.mark.parametrize(
    "q", ["", "   ", "!!!", "*", "\"'&|", "x" * 201, " ".join(f"w{i}" for i in range(40))]
)
def test_a_search_without_words_or_too_long_is_refused(trio: Trio, q: str) -> None:
    reader = _reader(trio, "SECRET", ["*"])
    with pytest.raises(InputInvalid, match="q: "):
        trio.rt["KOR"].inbox.page(reader, InboxQuery(q=q))
