"""The node's audit log: every release, relay, receipt, consent, denial, login and view."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select

from tisa.store.tables import audit_log


class Action(StrEnum):
    """What happened; a fixed vocabulary."""

    CREATE = "product.create"
    AMEND = "product.amend"
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
    """Append one entry, in the caller's transaction."""
    conn.execute(
        insert(audit_log).values(
            at=at,
            actor=actor,
            action=action.value,
            party=party,
            product_id=product_id,
            version=version,
            detail=dict(detail or {}),
        )
    )


def entries(
    conn: Connection, *, product_id: str | None = None, action: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Entries, oldest first, optionally filtered."""
    query = select(audit_log).order_by(audit_log.c.id)
    if product_id:
        query = query.where(audit_log.c.product_id == product_id)
    if action:
        query = query.where(audit_log.c.action == action)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit))]
