"""The node's audit log: every release, relay, receipt, consent, denial, login and view."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from tisa.audit import GENESIS, Entry, chain_hash, content
from tisa.store.tables import audit_entries, audit_head, checkpoints


class Action(StrEnum):
    """What happened; a fixed vocabulary."""

    CREATE = "product.create"
    AMEND = "product.amend"
    REVISE = "product.revise"
    SEND_BACK = "product.send-back"
    RELEASE = "product.release"
    RELAY = "product.relay"
    RECEIVE = "product.receive"
    HOLD = "product.hold"
    DENY = "policy.deny"
    REFUSE = "message.refuse"
    RECEIPT = "receipt"
    RECALL = "product.recall"
    VIEW = "product.view"
    CONSENT_GRANT = "consent.grant"
    CONSENT_DENY = "consent.deny"
    CONSENT_REVOKE = "consent.revoke"
    CONSENT_REQUEST = "consent.request"
    CHANNEL_SUSPEND = "channel.suspend"
    CHANNEL_RESUME = "channel.resume"
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in.failed"
    DEAD_LETTER = "delivery.dead"
    CANCEL = "delivery.cancel"
    CHECKPOINT = "audit.checkpoint"
    PEER_CHECKPOINT = "audit.peer-checkpoint"
    INCONSISTENT = "audit.inconsistent"
    CONFIG = "config.change"
    USER_ADD = "user.add"
    UPLOAD = "attachment.upload"
    DOWNLOAD = "attachment.download"


# Built once with bind parameters, so each append reuses one compiled statement.
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(size=bindparam("new_size"), head=bindparam("new_head"))
)


def record(
    conn: Connection,
    action: Action,
    *,
    at: datetime,
    actor: str,
    party: str | None = None,
    product_id: str | None = None,
    version: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry, chained to the one before, in the caller's transaction.

    The head row is locked first, so concurrent appends (several workers on PostgreSQL)
    take turns and the chain never forks.
    """
    head = conn.execute(
        select(audit_head.c.size, audit_head.c.head).where(audit_head.c.id == 1).with_for_update()
    ).first()
    size, prev = (0, GENESIS) if head is None else (int(head.size), str(head.head))
    seq = size + 1
    moment = at.astimezone(UTC)
    body = dict(detail or {})
    fields = content(
        seq=seq,
        at=moment,
        actor=actor,
        action=action.value,
        party=party,
        product_id=product_id,
        version=version,
        detail=body,
    )
    digest = chain_hash(fields, prev)
    conn.execute(
        insert(audit_entries),
        {
            "seq": seq,
            "at": moment,
            "actor": actor,
            "action": action.value,
            "party": party,
            "product_id": product_id,
            "version": version,
            "detail": body,
            "prev_hash": prev,
            "entry_hash": digest,
        },
    )
    if head is None:
        conn.execute(insert(audit_head), {"id": 1, "size": seq, "head": digest})
    else:
        conn.execute(_MOVE_HEAD, {"new_size": seq, "new_head": digest})


def _entry(r: Any) -> Entry:
    return Entry(
        seq=r.seq,
        at=r.at,
        actor=r.actor,
        action=r.action,
        party=r.party,
        product_id=r.product_id,
        version=r.version,
        detail=r.detail,
        prev_hash=r.prev_hash,
        entry_hash=r.entry_hash,
    )


def stream(conn: Connection, *, batch: int = 10_000) -> Iterator[Entry]:
    """Every entry in sequence order, fetched in batches (a million entries fit in memory
    only as hashes)."""
    last = 0
    while True:
        rows = conn.execute(
            select(audit_entries)
            .where(audit_entries.c.seq > last)
            .order_by(audit_entries.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        for r in rows:
            yield _entry(r)
        last = rows[-1].seq


def head(conn: Connection) -> tuple[int, str]:
    """The chain's recorded size and head hash."""
    r = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
    return (0, GENESIS) if r is None else (int(r.size), str(r.head))


def entry_time(conn: Connection, seq: int) -> datetime | None:
    """When entry `seq` was appended, or None if there is no such entry."""
    value = conn.execute(select(audit_entries.c.at).where(audit_entries.c.seq == seq)).scalar()
    return value if isinstance(value, datetime) else None


def entry_hashes(conn: Connection, upto: int) -> list[bytes]:
    """The entry hashes 1..upto, as bytes (the Merkle tree's leaves)."""
    rows = conn.execute(
        select(audit_entries.c.entry_hash)
        .where(audit_entries.c.seq <= upto)
        .order_by(audit_entries.c.seq)
    )
    return [bytes.fromhex(r.entry_hash) for r in rows]


def entries(
    conn: Connection,
    *,
    product_id: str | None = None,
    action: str | None = None,
    party: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[Entry]:
    """Entries, oldest first, filtered."""
    query = select(audit_entries).order_by(audit_entries.c.seq)
    if product_id:
        query = query.where(audit_entries.c.product_id == product_id)
    if action:
        query = query.where(audit_entries.c.action == action)
    if party:
        query = query.where(audit_entries.c.party == party)
    if since:
        query = query.where(audit_entries.c.at >= since)
    if until:
        query = query.where(audit_entries.c.at < until)
    return [_entry(r) for r in conn.execute(query.limit(limit))]


def after(conn: Connection, seq: int, actions: Sequence[str], *, upto: int) -> list[Entry]:
    """Entries in (seq, upto] with one of `actions`, oldest first (the live feed's source)."""
    query = (
        select(audit_entries)
        .where(
            audit_entries.c.seq > seq,
            audit_entries.c.seq <= upto,
            audit_entries.c.action.in_(list(actions)),
        )
        .order_by(audit_entries.c.seq)
    )
    return [_entry(r) for r in conn.execute(query)]


def recent(
    conn: Connection,
    *,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    product_id: str | None = None,
    limit: int = 100,
) -> list[Entry]:
    """Entries newest first, before sequence number `before`, filtered (the audit page)."""
    query = select(audit_entries).order_by(audit_entries.c.seq.desc())
    if before is not None:
        query = query.where(audit_entries.c.seq < before)
    if actor:
        query = query.where(audit_entries.c.actor == actor)
    if action:
        query = query.where(audit_entries.c.action == action)
    if product_id:
        query = query.where(audit_entries.c.product_id == product_id)
    return [_entry(r) for r in conn.execute(query.limit(limit))]


@dataclass(frozen=True)
class CheckpointRow:
    """A signed (size, root) statement by `issuer`."""

    issuer: str
    size: int
    root: str
    token: str
    at: datetime


def add_checkpoint(conn: Connection, row: CheckpointRow, now: datetime) -> bool:
    """Keep a checkpoint; False if one of that issuer and size is already held."""
    exists = conn.execute(
        select(checkpoints.c.size).where(
            checkpoints.c.issuer == row.issuer, checkpoints.c.size == row.size
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(insert(checkpoints), {**row.__dict__, "stored_at": now})
    return True


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
