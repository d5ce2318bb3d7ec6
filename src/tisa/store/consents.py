"""Consents the node holds, and consent requests filed by the hub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from tisa.store.rows import insert_new
from tisa.store.tables import consent_requests, consents, revocations


@dataclass(frozen=True)
class ConsentRow:
    """A consent as stored: its signed token and terms, and its revocation if any."""

    consent_id: str
    originator: str
    recipient: str
    product_id: str | None
    token: str
    terms: dict[str, Any]
    issued_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revocation: str | None
    created_by: str | None


def _consent(r: Any) -> ConsentRow:
    return ConsentRow(**{f: getattr(r, f) for f in ConsentRow.__dataclass_fields__})


def add(conn: Connection, row: ConsentRow) -> bool:
    """Store a consent; False if it was already held."""
    if get(conn, row.consent_id) is not None:
        return False
    conn.execute(insert(consents), row.__dict__)
    return True


def get(conn: Connection, consent_id: str) -> ConsentRow | None:
    """One consent, or None."""
    r = conn.execute(select(consents).where(consents.c.consent_id == consent_id)).first()
    return None if r is None else _consent(r)


def for_originator(conn: Connection, originator: str | None = None) -> list[ConsentRow]:
    """Consents held, newest first, optionally of one originator."""
    query = select(consents).order_by(consents.c.issued_at.desc())
    if originator:
        query = query.where(consents.c.originator == originator)
    return [_consent(r) for r in conn.execute(query)]


def revoke(conn: Connection, consent_id: str, at: datetime, revocation: str) -> None:
    """Mark a consent revoked from `at`."""
    conn.execute(
        update(consents)
        .where(consents.c.consent_id == consent_id, consents.c.revoked_at.is_(None))
        .values(revoked_at=at, revocation=revocation)
    )


@dataclass(frozen=True)
class RequestRow:
    """The hub's request to an originator to let one product version go to one party."""

    request_id: str
    product_id: str
    version: int
    originator: str
    recipient: str
    state: str
    token: str
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


def _request(r: Any) -> RequestRow:
    return RequestRow(**{f: getattr(r, f) for f in RequestRow.__dataclass_fields__})


def add_request(conn: Connection, row: RequestRow) -> bool:
    """Store a request; False if one for the same product version and recipient exists."""
    existing = conn.execute(
        select(consent_requests.c.request_id).where(
            consent_requests.c.product_id == row.product_id,
            consent_requests.c.version == row.version,
            consent_requests.c.recipient == row.recipient,
        )
    ).first()
    if existing is not None:
        return False
    try:
        # A savepoint: a concurrent transaction filing the same request wins, this one moves on.
        with conn.begin_nested():
            conn.execute(insert(consent_requests), row.__dict__)
    except IntegrityError:
        return False
    return True


def get_request(conn: Connection, request_id: str) -> RequestRow | None:
    """One request, or None."""
    r = conn.execute(
        select(consent_requests).where(consent_requests.c.request_id == request_id)
    ).first()
    return None if r is None else _request(r)


def requests(conn: Connection, state: str | None = None) -> list[RequestRow]:
    """Requests, newest first."""
    query = select(consent_requests).order_by(consent_requests.c.requested_at.desc())
    if state:
        query = query.where(consent_requests.c.state == state)
    return [_request(r) for r in conn.execute(query)]


def open_requests_for(conn: Connection, product_id: str, recipient: str) -> list[RequestRow]:
    """Open requests for a product (any version) to one recipient."""
    rows = conn.execute(
        select(consent_requests).where(
            consent_requests.c.product_id == product_id,
            consent_requests.c.recipient == recipient,
            consent_requests.c.state == "open",
        )
    )
    return [_request(r) for r in rows]


def decide_request(
    conn: Connection, request_id: str, state: str, at: datetime, by: str, reason: str | None
) -> None:
    """Close a request as granted or denied."""
    conn.execute(
        update(consent_requests)
        .where(consent_requests.c.request_id == request_id)
        .values(state=state, decided_at=at, decided_by=by, reason=reason)
    )


@dataclass(frozen=True)
class RevocationRow:
    """A revocation this node made or heard of, signed by the consent's originator."""

    consent_id: str
    originator: str
    recipient: str | None
    revoked_at: datetime
    token: str


def record_revocation(conn: Connection, row: RevocationRow, now: datetime) -> bool:
    """Keep a revocation (also of a consent never held here); False if already kept."""
    return insert_new(conn, revocations, {**row.__dict__, "stored_at": now})


def revoked(conn: Connection, consent_ids: list[str]) -> dict[str, datetime]:
    """When each of these consents stopped being in force here: the revocation's own time,
    or when this node learned of it if that was earlier (a revocation held is in force from
    the moment it is held, whatever the originator's clock said)."""
    if not consent_ids:
        return {}
    rows = conn.execute(
        select(revocations.c.consent_id, revocations.c.revoked_at, revocations.c.stored_at).where(
            revocations.c.consent_id.in_(sorted(set(consent_ids)))
        )
    )
    return {r.consent_id: min(r.revoked_at, r.stored_at) for r in rows}
