"""The durable outbox on SQLite and PostgreSQL: lanes, leases, outcomes, depth, SKIP LOCKED."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tisa.store import outbox
from tisa.store.database import Database
from tisa.store.outbox import LEASE, OutboxEntry
from tisa.store.tables import outbox as outbox_table

T0 = datetime(2024, 1, 14, 5, 55, tzinfo=UTC)
ALL_LANES = (0, 1, 2, 3)


def put(
    db: Database,
    *lanes: int,
    peer: str = "USA",
    at: datetime = T0,
    kind: str = "envelope",
    message: dict[str, Any] | None = None,
) -> list[int]:
    """Queue one entry per lane for `peer`, in order; their ids."""
    with db.begin() as conn:
        for n, lane in enumerate(lanes):
            outbox.enqueue(
                conn,
                peer=peer,
                lane=lane,
                kind=kind,
                message=message or {"kind": kind, "token": f"t{lane}-{n}"},
                now=at,
                product_id="0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10",
                version=1,
            )
        rows = conn.execute(
            select(outbox_table.c.id).where(outbox_table.c.peer == peer).order_by(outbox_table.c.id)
        )
        return [r.id for r in rows][-len(lanes) :]


def lease(
    db: Database,
    at: datetime = T0,
    *,
    peer: str = "USA",
    lanes: tuple[int, ...] = ALL_LANES,
    limit: int = 100,
) -> list[OutboxEntry]:
    with db.begin() as conn:
        return outbox.lease(conn, peer=peer, lanes=lanes, now=at, limit=limit)


def state(db: Database, entry_id: int) -> Any:
    with db.read() as conn:
        return conn.execute(select(outbox_table).where(outbox_table.c.id == entry_id)).one()


# -- leasing -------------------------------------------------------------------------------------


def test_lease_takes_the_most_urgent_lane_first_then_oldest(db: Database) -> None:
    ids = put(db, 3, 2, 0, 1, 0, 3)
    taken = lease(db)
    assert [e.lane for e in taken] == [0, 0, 1, 2, 3, 3]
    assert [e.id for e in taken] == [ids[2], ids[4], ids[3], ids[1], ids[0], ids[5]]


def test_a_limited_lease_takes_only_the_most_urgent(db: Database) -> None:
    put(db, 3, 3, 3, 1, 0)
    assert [e.lane for e in lease(db, limit=2)] == [0, 1]
    assert [e.lane for e in lease(db, limit=2)] == [3, 3]
    assert [e.lane for e in lease(db, limit=2)] == [3]
    assert lease(db, limit=2) == []


def test_a_flash_queued_behind_bulk_goes_first(db: Database) -> None:
    put(db, *([3] * 50))
    (flash,) = put(db, 0, at=T0 + timedelta(seconds=1))
    assert lease(db, T0 + timedelta(seconds=2), limit=1)[0].id == flash


def test_lease_keeps_to_its_lanes_and_peer(db: Database) -> None:
    put(db, 0, 1, 2, 3, peer="USA")
    put(db, 0, 1, peer="JPN")
    assert [e.lane for e in lease(db, lanes=(2, 3))] == [2, 3]
    taken = lease(db, peer="JPN")
    assert [(e.peer, e.lane) for e in taken] == [("JPN", 0), ("JPN", 1)]
    assert [e.lane for e in lease(db)] == [0, 1]
    assert lease(db, peer="KOR") == []


def test_a_leased_entry_is_not_leased_again_until_its_lease_expires(db: Database) -> None:
    (entry_id,) = put(db, 0)
    assert [e.id for e in lease(db)] == [entry_id]
    assert lease(db) == []
    assert lease(db, T0 + LEASE - timedelta(seconds=1)) == []
    assert lease(db, T0 + LEASE) == []  # the lease runs to its end
    again = lease(db, T0 + LEASE + timedelta(microseconds=1))
    assert [e.id for e in again] == [entry_id]
    assert lease(db, T0 + LEASE + timedelta(seconds=1)) == []  # leased anew


def test_an_entry_is_not_leased_before_it_is_due(db: Database) -> None:
    (entry_id,) = put(db, 0, at=T0)
    assert lease(db, T0 - timedelta(seconds=1)) == []
    assert [e.id for e in lease(db, T0)] == [entry_id]


def test_leased_entries_carry_what_was_queued(db: Database) -> None:
    message = {"kind": "envelope", "token": "eyJ.x.y", "note": "극비 / 機密"}
    (entry_id,) = put(db, 2, kind="envelope", message=message)
    (entry,) = lease(db)
    assert entry == OutboxEntry(
        id=entry_id,
        peer="USA",
        lane=2,
        kind="envelope",
        message=message,
        product_id="0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10",
        version=1,
        attempts=0,
        created_at=T0,
    )
    assert entry.created_at.utcoffset() == timedelta(0)


def test_release_leases_gives_entries_back_at_once(db: Database) -> None:
    ids = put(db, 0, 1)
    put(db, 0, peer="JPN")
    lease(db)
    lease(db, peer="JPN")
    with db.begin() as conn:
        outbox.release_leases(conn, "USA")
    assert [e.id for e in lease(db)] == ids
    assert lease(db, peer="JPN") == []


# -- outcomes ------------------------------------------------------------------------------------


def test_mark_sent_ends_an_entry(db: Database) -> None:
    (entry_id,) = put(db, 0)
    lease(db)
    with db.begin() as conn:
        outbox.mark_sent(conn, entry_id, T0 + timedelta(seconds=1))
    row = state(db, entry_id)
    assert (row.state, row.attempts, row.lease_until) == ("sent", 1, None)
    assert row.sent_at == T0 + timedelta(seconds=1)
    assert lease(db, T0 + timedelta(days=1)) == []
    with db.read() as conn:
        assert outbox.depth(conn) == {}
        assert outbox.lanes_of(conn, "USA", upto=3, now=T0) == {}


def test_mark_dead_keeps_the_reason_and_never_retries(db: Database) -> None:
    first, second = put(db, 0, 1)
    lease(db)
    with db.begin() as conn:
        outbox.mark_dead(conn, first, "PolicyDenied: REL TO lacks JPN")
    # The other entry's lease ends and it is leased again; the dead one never is.
    assert [e.id for e in lease(db, T0 + timedelta(days=1))] == [second]
    row = state(db, first)
    assert (row.state, row.attempts, row.last_error) == (
        "dead",
        1,
        "PolicyDenied: REL TO lacks JPN",
    )
    with db.read() as conn:
        dead = outbox.dead_letters(conn)
        depth = outbox.depth(conn)
    assert [(d["id"], d["peer"], d["last_error"]) for d in dead] == [
        (first, "USA", "PolicyDenied: REL TO lacks JPN")
    ]
    assert depth == {("USA", 1): 1}


def test_retry_later_waits_until_its_time(db: Database) -> None:
    (entry_id,) = put(db, 1)
    lease(db)
    retry_at = T0 + timedelta(seconds=7)
    with db.begin() as conn:
        outbox.retry_later(conn, entry_id, "ConnectError: refused", retry_at)
    row = state(db, entry_id)
    assert (row.state, row.attempts, row.last_error, row.lease_until) == (
        "pending",
        1,
        "ConnectError: refused",
        None,
    )
    with db.read() as conn:
        due = outbox.lanes_of(conn, "USA", upto=3, now=T0)[1].due
    assert due == retry_at
    assert due is not None
    assert due.utcoffset() == timedelta(0)
    assert lease(db, retry_at - timedelta(milliseconds=1)) == []
    (again,) = lease(db, retry_at)
    assert (again.id, again.attempts) == (entry_id, 1)
    with db.begin() as conn:
        outbox.retry_later(conn, entry_id, "timeout", retry_at + timedelta(seconds=30))
    assert state(db, entry_id).attempts == 2


def test_depth_counts_pending_entries_per_peer_and_lane(db: Database) -> None:
    put(db, 0, 0, 3, peer="USA")
    put(db, 1, peer="JPN")
    sent, dead, *_ = put(db, 2, 2, 2, peer="KOR")
    leased = lease(db, peer="USA", limit=1)  # leased entries are still pending
    with db.begin() as conn:
        outbox.mark_sent(conn, sent, T0)
        outbox.mark_dead(conn, dead, "no")
    assert len(leased) == 1
    with db.read() as conn:
        assert outbox.depth(conn) == {("USA", 0): 2, ("USA", 3): 1, ("JPN", 1): 1, ("KOR", 2): 1}


def test_each_lane_says_when_it_falls_due_and_what_is_in_flight(db: Database) -> None:
    put(db, 3, at=T0)
    put(db, 0, at=T0 + timedelta(minutes=5))
    put(db, 1, at=T0)
    lease(db, lanes=(1,))  # held by a sender: in flight, not due
    with db.read() as conn:
        assert outbox.lanes_of(conn, "USA", upto=0, now=T0) == {
            0: outbox.LaneState(T0 + timedelta(minutes=5), 0)
        }
        assert outbox.lanes_of(conn, "USA", upto=3, now=T0) == {
            0: outbox.LaneState(T0 + timedelta(minutes=5), 0),
            1: outbox.LaneState(None, 1),
            3: outbox.LaneState(T0, 0),
        }
        assert outbox.lanes_of(conn, "JPN", upto=3, now=T0) == {}


# -- several workers on one database -------------------------------------------------------------


def test_concurrent_workers_send_every_entry_exactly_once(own_db: Database) -> None:
    """Four senders share the outbox: each entry is leased by one of them, once."""
    db = own_db  # four workers' transactions at once: real connections of their own
    ids = put(db, *([0, 1, 2, 3] * 10))
    taken: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(mine: list[int]) -> None:
        try:
            start.wait(timeout=10)
            while True:
                with db.begin() as conn:
                    batch = outbox.lease(conn, peer="USA", lanes=ALL_LANES, now=T0, limit=3)
                    for entry in batch:
                        outbox.mark_sent(conn, entry.id, T0)
                if not batch:
                    return
                mine.extend(e.id for e in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [i for mine in taken for i in mine]
    assert sorted(every) == sorted(ids)  # none lost, none twice
    assert len(set(every)) == len(every)


@pytest.mark.postgres
def test_postgres_concurrent_leases_skip_locked_rows(pg_databases: Any) -> None:
    """Two transactions lease at once: the second skips the rows the first holds (it does not
    wait, and does not take them too)."""
    # A database of its own: two connections hold row locks at once and commit.
    db = Database(pg_databases.new()).open()
    try:
        ids = put(db, 0, 0, 1, 1)
        with db.engine.connect() as first, db.engine.connect() as second:
            with first.begin():
                a = outbox.lease(first, peer="USA", lanes=ALL_LANES, now=T0, limit=2)
                with second.begin():
                    second.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                    b = outbox.lease(second, peer="USA", lanes=ALL_LANES, now=T0, limit=10)
            assert [e.id for e in a] == ids[:2]
            assert [e.id for e in b] == ids[2:]
        # Both leases were committed: nothing is free until they expire.
        assert lease(db) == []
    finally:
        db.close()


@pytest.mark.postgres
def test_postgres_a_rolled_back_lease_frees_its_rows(pg_databases: Any) -> None:
    # A database of its own: a lease taken and rolled back on a connection of its own.
    db = Database(pg_databases.new()).open()
    try:
        ids = put(db, 0, 1)
        with db.engine.connect() as conn:
            transaction = conn.begin()
            assert len(outbox.lease(conn, peer="USA", lanes=ALL_LANES, now=T0, limit=10)) == 2
            transaction.rollback()
        assert [e.id for e in lease(db)] == ids
    finally:
        db.close()
