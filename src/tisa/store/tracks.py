"""Live track updates as this node keeps them: every one it made or received, as signed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tisa.store.rows import insert_new, insert_new_many
from tisa.store.tables import track_updates


@dataclass(frozen=True)
class TrackRow:
    """One update as stored: the originator's signed token and, for a relayed one, the hub's
    attestation and the consent it cites."""

    originator: str
    track_id: str
    time_ms: int
    classification: int
    exercise: bool
    token: str
    attestation: str | None
    consent: str | None
    received_from: str | None
    stored_at: datetime


def add(conn: Connection, row: TrackRow) -> bool:
    """Keep an update; False if this (originator, track, time) is already kept."""
    return insert_new(conn, track_updates, {**row.__dict__})


#: What tells two updates apart: the originator's track at one moment.
Key = tuple[str, str, int]


def add_many(conn: Connection, rows: Sequence[TrackRow]) -> set[Key]:
    """Keep each update not yet kept, in one statement; the keys of those it kept."""
    kept = insert_new_many(
        conn,
        track_updates,
        [{**row.__dict__} for row in rows],
        ("originator", "track_id", "time_ms"),
    )
    return {(str(o), str(t), int(ms)) for o, t, ms in kept}


def _row(r: object) -> TrackRow:
    return TrackRow(**{f: getattr(r, f) for f in TrackRow.__dataclass_fields__})


def _ends(conn: Connection, end: Callable[..., Any], since_ms: int) -> list[TrackRow]:
    """One row per track with an update at or after `since_ms`: the one `end` (max or min)
    of its times picks, newest first."""
    t = track_updates.c
    chosen = (
        select(t.originator, t.track_id, end(t.time_ms).label("time_ms"))
        .where(t.time_ms >= since_ms)
        .group_by(t.originator, t.track_id)
        .subquery()
    )
    rows = conn.execute(
        select(track_updates)
        .join(
            chosen,
            (t.originator == chosen.c.originator)
            & (t.track_id == chosen.c.track_id)
            & (t.time_ms == chosen.c.time_ms),
        )
        .order_by(t.time_ms.desc())
    )
    return [_row(r) for r in rows]


def latest(conn: Connection, *, since_ms: int = 0) -> list[TrackRow]:
    """The newest update of each track with one at or after `since_ms`, newest first."""
    return _ends(conn, func.max, since_ms)


def firsts(conn: Connection) -> list[TrackRow]:
    """The first update kept of each track (when it was first seen), newest first."""
    return _ends(conn, func.min, 0)


def mark(conn: Connection) -> tuple[int, int]:
    """How many updates are kept and the newest row's id: changes whenever one is added, so
    what is computed from the history can be cached against it."""
    count, top = conn.execute(
        select(func.count(), func.coalesce(func.max(track_updates.c.id), 0))
    ).one()
    return int(count), int(top)


def history(
    conn: Connection,
    *,
    since_ms: int = 0,
    until_ms: int | None = None,
    originator: str | None = None,
    limit: int = 10_000,
) -> list[TrackRow]:
    """Updates at or after `since_ms` (and at or before `until_ms`, if given; of one
    originator, or all), oldest first, at most `limit`."""
    query = select(track_updates).where(track_updates.c.time_ms >= since_ms)
    if until_ms is not None:
        query = query.where(track_updates.c.time_ms <= until_ms)
    if originator is not None:
        query = query.where(track_updates.c.originator == originator)
    rows = conn.execute(query.order_by(track_updates.c.time_ms, track_updates.c.id).limit(limit))
    return [_row(r) for r in rows]


def position_at(conn: Connection, since_ms: int) -> int:
    """The store position just before the first update (in the order kept) with a time at or
    after `since_ms`; the end of the store if there is none (a first catch-up starts here)."""
    t = track_updates.c
    first = conn.execute(select(func.min(t.id)).where(t.time_ms >= since_ms)).scalar()
    if first is not None:
        return int(first) - 1
    return end(conn)


def end(conn: Connection) -> int:
    """The position of the last update kept (0 when none)."""
    return int(conn.execute(select(func.max(track_updates.c.id))).scalar() or 0)


def kept_after(conn: Connection, position: int, limit: int) -> list[tuple[int, TrackRow]]:
    """Updates in the order this node kept them, after `position`, with their positions."""
    rows = conn.execute(
        select(track_updates)
        .where(track_updates.c.id > position)
        .order_by(track_updates.c.id)
        .limit(limit)
    )
    return [(int(r.id), _row(r)) for r in rows]


def newest_from(conn: Connection, sender: str) -> int | None:
    """The time of the newest update received from `sender`, or None."""
    value = conn.execute(
        select(func.max(track_updates.c.time_ms)).where(track_updates.c.received_from == sender)
    ).scalar()
    return None if value is None else int(value)
