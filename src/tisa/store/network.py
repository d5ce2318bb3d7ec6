"""What a node knows of its channels and peers: suspensions, last contact, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tisa.domain.arrangement import Channel
from tisa.store.tables import channel_states, peers


def suspended(conn: Connection) -> frozenset[str]:
    """Ids of the channels this node holds suspended."""
    rows = conn.execute(
        select(channel_states.c.channel_id).where(channel_states.c.suspended.is_(True))
    )
    return frozenset(r.channel_id for r in rows)


def is_suspended(conn: Connection, channel: Channel) -> bool:
    """Whether this node holds `channel` suspended (the one check senders and receivers use)."""
    return channel.id in suspended(conn)


def set_suspended(conn: Connection, channel_id: str, value: bool, now: datetime, by: str) -> None:
    """Suspend or resume a channel."""
    exists = conn.execute(
        select(channel_states.c.channel_id).where(channel_states.c.channel_id == channel_id)
    ).first()
    values = {"suspended": value, "changed_at": now, "changed_by": by}
    if exists is None:
        conn.execute(insert(channel_states).values(channel_id=channel_id, **values))
    else:
        conn.execute(
            update(channel_states).where(channel_states.c.channel_id == channel_id).values(**values)
        )


def touch(conn: Connection, party: str, now: datetime, error: str | None = None) -> None:
    """Record a contact with a peer (or a failed attempt, with its error)."""
    exists = conn.execute(select(peers.c.party).where(peers.c.party == party)).first()
    values: dict[str, Any] = (
        {"last_contact": now} if error is None else {"last_error": error, "last_error_at": now}
    )
    if exists is None:
        conn.execute(insert(peers).values(party=party, **values))
    else:
        conn.execute(update(peers).where(peers.c.party == party).values(**values))


def peer_states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Last contact and last error per peer."""
    return {
        r.party: {
            "last_contact": r.last_contact,
            "last_error": r.last_error,
            "last_error_at": r.last_error_at,
        }
        for r in conn.execute(select(peers))
    }
