"""The durable outbox: messages to peers, in priority lanes, sent at least once.

An entry is written in the same transaction as the change that causes it. Senders lease a
batch (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers can share one
database); a lease that outlives a crashed sender simply expires and the entry is sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from tisa.domain.states import OutboxState
from tisa.store.tables import outbox

LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class OutboxEntry:
    """One message waiting for (or done with) a peer."""

    id: int
    peer: str
    lane: int
    kind: str
    message: dict[str, Any]
    product_id: str | None
    version: int | None
    attempts: int
    created_at: datetime
    consent_id: str | None = None


def enqueue(
    conn: Connection,
    *,
    peer: str,
    lane: int,
    kind: str,
    message: dict[str, Any],
    now: datetime,
    product_id: str | None = None,
    version: int | None = None,
    consent_id: str | None = None,
) -> None:
    """Queue a message for a peer (`consent_id`: the consent a relayed envelope cites)."""
    conn.execute(
        insert(outbox),
        {
            "peer": peer,
            "lane": lane,
            "kind": kind,
            "message": message,
            "product_id": product_id,
            "version": version,
            "consent_id": consent_id,
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        },
    )


def lease(
    conn: Connection, *, peer: str, lanes: tuple[int, ...], now: datetime, limit: int
) -> list[OutboxEntry]:
    """Take up to `limit` due entries for `peer` in `lanes`, most urgent lane first."""
    due = (
        select(outbox.c.id)
        .where(
            outbox.c.peer == peer,
            outbox.c.state == OutboxState.PENDING.value,
            outbox.c.lane.in_(lanes),
            outbox.c.next_attempt_at <= now,
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
        )
        .order_by(outbox.c.lane, outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = [r.id for r in conn.execute(due)]
    if not ids:
        return []
    conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(lease_until=now + LEASE))
    rows = conn.execute(
        select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.lane, outbox.c.id)
    )
    return [_entry(r) for r in rows]


def _entry(r: Any) -> OutboxEntry:
    return OutboxEntry(
        r.id,
        r.peer,
        r.lane,
        r.kind,
        r.message,
        r.product_id,
        r.version,
        r.attempts,
        r.created_at,
        r.consent_id,
    )


# Only a pending entry moves on: a message cancelled while it was in flight stays cancelled.
_PENDING = outbox.c.state == OutboxState.PENDING.value


def mark_sent(conn: Connection, entry_id: int, now: datetime) -> bool:
    """The peer took it; False if it was no longer pending."""
    return bool(
        conn.execute(
            update(outbox)
            .where(outbox.c.id == entry_id, _PENDING)
            .values(
                state=OutboxState.SENT.value,
                sent_at=now,
                lease_until=None,
                attempts=outbox.c.attempts + 1,
            )
        ).rowcount
    )


def mark_dead(conn: Connection, entry_id: int, reason: str) -> bool:
    """The peer refused it for good: keep it with the reason, never retry."""
    return bool(
        conn.execute(
            update(outbox)
            .where(outbox.c.id == entry_id, _PENDING)
            .values(
                state=OutboxState.DEAD.value,
                last_error=reason,
                lease_until=None,
                attempts=outbox.c.attempts + 1,
            )
        ).rowcount
    )


def retry_later(conn: Connection, entry_id: int, reason: str, at: datetime) -> None:
    """A transient failure: try again at `at`."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == entry_id, _PENDING)
        .values(
            last_error=reason,
            next_attempt_at=at,
            lease_until=None,
            attempts=outbox.c.attempts + 1,
        )
    )


def cancel(conn: Connection, entry_ids: Sequence[int], reason: str) -> None:
    """Withdraw pending entries before they move (the rules now refuse them)."""
    if entry_ids:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(entry_ids)), _PENDING)
            .values(state=OutboxState.CANCELLED.value, last_error=reason, lease_until=None)
        )


def cancel_pending(
    conn: Connection,
    *,
    now: datetime,
    reason: str,
    product: tuple[str, int] | None = None,
    consent_id: str | None = None,
) -> list[OutboxEntry]:
    """Cancel the envelopes still waiting for one product version or citing one consent,
    and return them. One a sender holds right now (leased) is in flight: it is left to that
    sender, which asks the gate again before it next moves it."""
    query = select(outbox).where(
        _PENDING,
        outbox.c.kind == "envelope",
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )
    if product is not None:
        query = query.where(outbox.c.product_id == product[0], outbox.c.version == product[1])
    if consent_id is not None:
        query = query.where(outbox.c.consent_id == consent_id)
    found = [_entry(r) for r in conn.execute(query.with_for_update())]
    cancel(conn, [e.id for e in found], reason)
    return found


def release_lease(conn: Connection, entry_id: int) -> None:
    """Give one leased entry back untouched (it waits out a suspension)."""
    conn.execute(update(outbox).where(outbox.c.id == entry_id, _PENDING).values(lease_until=None))


def release_leases(conn: Connection, peer: str) -> None:
    """Give back leased entries (after a batch failed as a whole)."""
    conn.execute(update(outbox).where(outbox.c.peer == peer, _PENDING).values(lease_until=None))


def depth(conn: Connection) -> dict[tuple[str, int], int]:
    """Pending entries per (peer, lane)."""
    rows = conn.execute(
        select(outbox.c.peer, outbox.c.lane, func.count())
        .where(_PENDING)
        .group_by(outbox.c.peer, outbox.c.lane)
    )
    return {(r[0], int(r[1])): int(r[2]) for r in rows}


@dataclass(frozen=True)
class LaneState:
    """A lane's pending messages for one peer: when the earliest one no sender holds falls
    due (None if every one is held), and how many a sender holds right now (in flight)."""

    due: datetime | None
    in_flight: int


def lanes_of(conn: Connection, peer: str, *, upto: int, now: datetime) -> dict[int, LaneState]:
    """Each lane up to `upto` (0 the most urgent) that has pending messages for `peer`
    (a plain read, no lock)."""
    leased = and_(outbox.c.lease_until.is_not(None), outbox.c.lease_until >= now)
    rows = conn.execute(
        select(
            outbox.c.lane,
            func.min(case((leased, None), else_=outbox.c.next_attempt_at)),
            func.sum(case((leased, 1), else_=0)),
        )
        .where(outbox.c.peer == peer, _PENDING, outbox.c.lane <= upto)
        .group_by(outbox.c.lane)
    )
    found: dict[int, LaneState] = {}
    for lane, when, held in rows:
        if isinstance(when, str):  # SQLite hands back CASE results untyped
            when = datetime.fromisoformat(when)
        if isinstance(when, datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        found[int(lane)] = LaneState(when, int(held or 0))
    return found


def hurry(conn: Connection, peer: str, now: datetime) -> None:
    """Make every pending entry for `peer` due now (the peer is back: backoffs reset)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.peer == peer, _PENDING, outbox.c.next_attempt_at > now)
        .values(next_attempt_at=now)
    )


def dead_letters(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Entries refused for good, newest first, with their reasons."""
    rows = conn.execute(
        select(
            outbox.c.id,
            outbox.c.peer,
            outbox.c.kind,
            outbox.c.product_id,
            outbox.c.version,
            outbox.c.last_error,
        )
        .where(outbox.c.state == OutboxState.DEAD.value)
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
