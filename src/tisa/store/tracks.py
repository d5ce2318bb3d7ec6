"""Live track updates as this node keeps them: every one it made or received, as signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from tisa.store.rows import insert_new
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


def _row(r: object) -> TrackRow:
    return TrackRow(**{f: getattr(r, f) for f in TrackRow.__dataclass_fields__})


def latest(conn: Connection, *, since_ms: int = 0) -> list[TrackRow]:
    """The newest update of each track with one at or after `since_ms`, newest first."""
    t = track_updates.c
    newest = (
        select(t.originator, t.track_id, func.max(t.time_ms).label("time_ms"))
        .where(t.time_ms >= since_ms)
        .group_by(t.originator, t.track_id)
        .subquery()
    )
    rows = conn.execute(
        select(track_updates)
        .join(
            newest,
            (t.originator == newest.c.originator)
            & (t.track_id == newest.c.track_id)
            & (t.time_ms == newest.c.time_ms),
        )
        .order_by(t.time_ms.desc())
    )
    return [_row(r) for r in rows]


def history(
    conn: Connection, *, since_ms: int = 0, originator: str | None = None, limit: int = 10_000
) -> list[TrackRow]:
    """Updates at or after `since_ms` (of one originator, or all), oldest first."""
    query = select(track_updates).where(track_updates.c.time_ms >= since_ms)
    if originator is not None:
        query = query.where(track_updates.c.originator == originator)
    rows = conn.execute(query.order_by(track_updates.c.time_ms, track_updates.c.id).limit(limit))
    return [_row(r) for r in rows]


def newest_from(conn: Connection, sender: str) -> int | None:
    """The time of the newest update received from `sender`, or None."""
    value = conn.execute(
        select(func.max(track_updates.c.time_ms)).where(track_updates.c.received_from == sender)
    ).scalar()
    return None if value is None else int(value)
