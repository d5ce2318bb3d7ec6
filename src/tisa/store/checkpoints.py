"""Checkpoints: the signed (size, root) statements of every node's audit log that this node
keeps, and what each peer last said it holds of ours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from tisa.store.rows import insert_new
from tisa.store.tables import checkpoints, peer_holdings


@dataclass(frozen=True)
class CheckpointRow:
    """A signed (size, root) statement by `issuer`."""

    issuer: str
    size: int
    root: str
    token: str
    at: datetime


def add_checkpoint(conn: Connection, row: CheckpointRow, now: datetime) -> bool:
    """Keep a checkpoint; False if one of that issuer and size is already held, also when
    another transaction stored it a moment ago (the sender's lanes, the heartbeat and the
    federation endpoint all hear a peer's latest checkpoint, at once on PostgreSQL)."""
    return insert_new(conn, checkpoints, {**row.__dict__, "stored_at": now})


def checkpoints_of(conn: Connection, issuer: str) -> list[CheckpointRow]:
    """Checkpoints by `issuer`, smallest first."""
    rows = conn.execute(
        select(checkpoints).where(checkpoints.c.issuer == issuer).order_by(checkpoints.c.size)
    )
    return [CheckpointRow(r.issuer, r.size, r.root, r.token, r.at) for r in rows]


def latest_checkpoint(conn: Connection, issuer: str) -> CheckpointRow | None:
    """The largest checkpoint held of `issuer`."""
    r = conn.execute(
        select(checkpoints)
        .where(checkpoints.c.issuer == issuer)
        .order_by(checkpoints.c.size.desc())
        .limit(1)
    ).first()
    return None if r is None else CheckpointRow(r.issuer, r.size, r.root, r.token, r.at)


@dataclass(frozen=True)
class Holding:
    """The largest checkpoint of this node's that `peer` last said it holds, and when."""

    peer: str
    size: int
    reported_at: datetime


def set_holding(conn: Connection, peer: str, size: int, now: datetime) -> None:
    """Keep what `peer` says it holds of this node's checkpoints (its latest word wins)."""
    values = {"size": size, "reported_at": now}
    latest = update(peer_holdings).where(peer_holdings.c.peer == peer).values(**values)
    if conn.execute(latest).rowcount:
        return
    if not insert_new(conn, peer_holdings, {"peer": peer, **values}):
        conn.execute(latest)  # another transaction made the row first


def holdings(conn: Connection) -> dict[str, Holding]:
    """What each peer last said it holds of this node's checkpoints."""
    rows = conn.execute(select(peer_holdings))
    return {r.peer: Holding(r.peer, r.size, r.reported_at) for r in rows}
