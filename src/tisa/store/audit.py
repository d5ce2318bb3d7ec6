"""The node's audit log: every release, relay, receipt, consent, denial, login and view."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, Text, bindparam, cast, insert, select, type_coerce, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import NullType

from tisa.audit.chain import GENESIS, Damaged, Entry, chain_hash, content, well_formed
from tisa.errors import AuditTampered
from tisa.store.tables import audit_entries, audit_head


class Action(StrEnum):
    """What happened; a fixed vocabulary."""

    CREATE = "product.create"
    AMEND = "product.amend"
    REVISE = "product.revise"
    SEND_BACK = "product.send-back"
    RELEASE = "product.release"
    RELAY = "product.relay"
    RECEIVE = "product.receive"
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
    USER_PASSWORD = "user.password"  # noqa: S105 - an action's name, not a password
    USER_UNLOCK = "user.unlock"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    WARNING_RAISED = "warning.raise"
    WARNING_WITHDRAWN = "warning.withdraw"
    WARNING_ENDED = "warning.end"
    DEAD_LETTER = "delivery.dead"
    CANCEL = "delivery.cancel"
    CHECKPOINT = "audit.checkpoint"
    PEER_CHECKPOINT = "audit.peer-checkpoint"  # older logs; now kept in `checkpoints` only
    INCONSISTENT = "audit.inconsistent"
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


# The chain is read raw, as the driver hands it over, and decoded row by row below: a value
# the column's type cannot convert becomes that row's damage, not the whole read's exception.
_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "party",
    "product_id",
    "version",
    "detail",
    "prev_hash",
    "entry_hash",
)  # the order `_decode` unpacks
_RAW = [
    cast(audit_entries.c[name], Text).label(name)
    if name == "detail"
    else type_coerce(audit_entries.c[name], NullType()).label(name)
    for name in _COLUMNS
]
_LINKS = [
    type_coerce(audit_entries.c[name], NullType()).label(name)
    for name in ("seq", "prev_hash", "entry_hash")
]
# Rows probed one by one past a read that failed before reading is given up as hopeless.
_PROBES = 100_000


def _rows(
    conn: Connection, columns: Sequence[Any], *, after: int, upto: int | None, batch: int
) -> Iterator[Row[Any] | Damaged]:
    """Raw rows with sequence numbers in (after, upto], in order, fetched in batches.

    A batch that cannot be read (a damaged page: "database disk image is malformed", text that
    is not UTF-8) is read again row by row, each row in a savepoint of its own (PostgreSQL
    aborts a transaction on any error), so every row that can be read is, and each run of rows
    that cannot becomes one `Damaged`.
    """
    start = after + 1
    end = 0  # the log's size as its head says, read once a batch has failed
    one_by_one_until = 0
    failure = ""  # why the last batch could not be read
    damage: Damaged | None = None  # the run of unreadable rows being gathered
    fruitless = 0  # rows probed in a row without finding one
    while upto is None or start <= upto:
        if start <= one_by_one_until:
            try:
                with conn.begin_nested():
                    row = conn.execute(select(*columns).where(audit_entries.c.seq == start)).first()
            except SQLAlchemyError as exc:
                damage = damage or Damaged(start, start, _why(exc))
                row = None
            else:
                if damage is not None:
                    yield Damaged(damage.first, start - 1, damage.reason)
                    damage = None
            if row is not None:
                yield row
                fruitless = 0
            else:
                fruitless += 1
                if fruitless > _PROBES or (damage is not None and start > end):
                    # Far from anything readable, or past the head: the rest is lost.
                    first = damage.first if damage else start - fruitless + 1
                    yield Damaged(first, None, damage.reason if damage else failure)
                    return
                if damage is None and start > end:
                    one_by_one_until = start  # past the end: a batch will say if more follow
            start += 1
            continue
        query = select(*columns).where(audit_entries.c.seq >= start)
        if upto is not None:
            query = query.where(audit_entries.c.seq <= upto)
        try:
            with conn.begin_nested():
                rows = conn.execute(query.order_by(audit_entries.c.seq).limit(batch)).all()
        except SQLAlchemyError as exc:
            end, failure = end or _end(conn, start), _why(exc)
            one_by_one_until = start + batch - 1
            continue
        if damage is not None:
            yield Damaged(damage.first, start - 1, damage.reason)
            damage = None
        if not rows:
            return
        yield from rows
        start = int(rows[-1].seq) + 1
    if damage is not None:
        yield Damaged(damage.first, start - 1, damage.reason)


def _end(conn: Connection, start: int) -> int:
    """The log's size as its head row says, to bound probing (at least `start`)."""
    try:
        with conn.begin_nested():
            size, _ = head(conn)
    except SQLAlchemyError:
        return start
    return max(size, start)


def _why(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {orig or exc}".splitlines()[0]


def _decode(r: Row[Any]) -> Entry | Damaged:
    """An entry from a raw row, or the damage that keeps it from being one."""
    seq, at, actor, action, party, product_id, version, detail, prev_hash, entry_hash = tuple(r)
    try:
        for name, value, nullable in (
            ("actor", actor, False),
            ("action", action, False),
            ("party", party, True),
            ("product_id", product_id, True),
            ("prev_hash", prev_hash, False),
            ("entry_hash", entry_hash, False),
        ):
            if type(value) is not str and not (nullable and value is None):
                raise _Malformed(f"its {name} is {value!r}, not text")
        if version is not None and type(version) is not int:
            raise _Malformed(f"its version is {version!r}, not a whole number")
        return Entry(
            seq, _moment(at), actor, action, party, product_id, version, _detail(detail),
            prev_hash, entry_hash,
        )  # fmt: skip
    except _Malformed as exc:
        if type(prev_hash) is str and type(entry_hash) is str:
            return Damaged(seq, seq, str(exc), prev_hash=prev_hash, entry_hash=entry_hash)
        return Damaged(seq, seq, str(exc))


class _Malformed(ValueError):
    """A stored value its column's type cannot hold; the message says which and why."""


def _moment(value: object) -> datetime:
    # SQLite keeps times as text without a zone; PostgreSQL hands over aware datetimes.
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise _Malformed(f"its time is malformed ({exc})") from exc
    if not isinstance(moment, datetime):
        raise _Malformed(f"its time is {value!r}, not a time")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _detail(text: object) -> dict[str, Any]:
    try:
        detail = json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError, RecursionError) as exc:
        raise _Malformed(f"its detail is malformed ({type(exc).__name__}: {exc})") from exc
    if not isinstance(detail, dict):
        raise _Malformed(f"its detail is {type(detail).__name__}, not a JSON object")
    return detail


def stream(
    conn: Connection, *, after: int = 0, upto: int | None = None, batch: int = 10_000
) -> Iterator[Entry | Damaged]:
    """Every entry after `after` (up to `upto`) in sequence order, fetched in batches (a
    million entries fit in memory only as hashes).

    Raises nothing for what is stored: a row that cannot be read, or read as an entry, comes
    as `Damaged` naming its sequence numbers, and reading goes on past it.
    """
    for row in _rows(conn, _RAW, after=after, upto=upto, batch=batch):
        yield row if isinstance(row, Damaged) else _decode(row)


def head(conn: Connection) -> tuple[int, str]:
    """The chain's recorded size and head hash."""
    r = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
    return (0, GENESIS) if r is None else (int(r.size), str(r.head))


def entry_hashes(conn: Connection, upto: int) -> list[bytes]:
    """The entry hashes 1..upto, as bytes (the Merkle tree's leaves).

    Raises:
        AuditTampered: naming the first entry that cannot be read, is missing, or whose hash
            is malformed.
    """
    return [leaf for leaf, _ in links(conn, after=0, upto=upto)]


def links(conn: Connection, *, after: int, upto: int) -> Iterator[tuple[bytes, str]]:
    """(entry hash as bytes, previous hash) of entries after..upto, in order, each checked to
    be there and readable (not its content: that is `stream`'s and the walk's).

    Raises:
        AuditTampered: naming the first entry that cannot be read, is missing, or whose hash
            is malformed.
    """
    expected = after + 1
    for row in _rows(conn, _LINKS, after=after, upto=upto, batch=10_000):
        if isinstance(row, Damaged):
            raise AuditTampered(
                f"audit entries {row.first}–{row.last or 'end'} cannot be read: {row.reason}",
                seq=row.first,
            )
        seq = int(row.seq)
        if seq != expected:
            raise AuditTampered(f"audit entry {expected} is missing", seq=expected)
        if not (well_formed(row.entry_hash) and isinstance(row.prev_hash, str)):
            raise AuditTampered(f"audit entry {seq}'s hashes are malformed", seq=seq)
        yield bytes.fromhex(row.entry_hash), row.prev_hash
        expected += 1
    if expected <= upto:
        raise AuditTampered(
            f"audit entries {expected}–{upto} are missing: the log's head says it holds {upto}",
            seq=expected,
        )


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


def _filtered(
    query: Any,
    actor: str | None,
    action: str | None,
    product_id: str | None,
    hide: Sequence[str],
) -> Any:
    if actor:
        query = query.where(audit_entries.c.actor == actor)
    if action:
        query = query.where(audit_entries.c.action == action)
    elif hide:
        query = query.where(audit_entries.c.action.not_in(list(hide)))
    if product_id:
        query = query.where(audit_entries.c.product_id == product_id)
    return query


def recent(
    conn: Connection,
    *,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    product_id: str | None = None,
    hide: Sequence[str] = (),
    limit: int = 100,
) -> list[Entry]:
    """Entries newest first, before sequence number `before`, filtered (the audit page);
    actions in `hide` are left out unless `action` asks for one by name."""
    query = select(audit_entries).order_by(audit_entries.c.seq.desc())
    if before is not None:
        query = query.where(audit_entries.c.seq < before)
    query = _filtered(query, actor, action, product_id, hide)
    return [_entry(r) for r in conn.execute(query.limit(limit))]


def selected(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    product_id: str | None = None,
    hide: Sequence[str] = (),
    batch: int = 1_000,
) -> Iterator[Entry]:
    """Every entry `recent`'s filters select, oldest first, read a batch at a time (an
    export of the whole log never holds it in memory)."""
    after = 0
    while True:
        query = select(audit_entries).where(audit_entries.c.seq > after)
        query = _filtered(query, actor, action, product_id, hide)
        rows = [_entry(r) for r in conn.execute(query.order_by(audit_entries.c.seq).limit(batch))]
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def entry_time(conn: Connection, seq: int) -> datetime | None:
    """When entry `seq` was appended; None if there is no such entry or it cannot be read."""
    for entry in stream(conn, after=seq - 1, upto=seq, batch=1):
        return entry.at if isinstance(entry, Entry) else None
    return None
