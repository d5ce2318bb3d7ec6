"""What the sender records, in the store, of each message it took: what the peer answered, or
why the gate stopped it at the lease."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from tisa.domain.policy import Decision
from tisa.domain.states import DeliveryState
from tisa.relay.backoff import backoff
from tisa.relay.context import NodeContext
from tisa.store import audit, deliveries, outbox
from tisa.store.outbox import OutboxEntry


class Outcome(StrEnum):
    """What became of one message the sender sent."""

    SENT = "sent"  # the peer stored it, or held it already
    DEAD = "dead"  # refused for good: a dead letter with its reason
    RETRY = "retry"  # refused for now: tried again after a backoff


def answered(
    conn: Connection,
    ctx: NodeContext,
    peer: str,
    entry: OutboxEntry,
    result: Any,
    now: datetime,
    rng: random.Random,
) -> Outcome:
    """Record `peer`'s answer to `entry`, in the caller's transaction: stored or duplicate →
    sent (and its delivery with it); refused for good → a dead letter, the delivery denied
    with the reason, on record; anything else (refused for now, malformed) → retried later."""
    status = result.get("status") if isinstance(result, dict) else None
    reason = str(result.get("reason", "")) if isinstance(result, dict) else "bad result"
    envelope = entry.kind == "envelope" and entry.product_id and entry.version
    if status in ("stored", "duplicate"):
        outbox.mark_sent(conn, entry.id, now)
        if envelope:
            assert entry.product_id is not None
            assert entry.version is not None
            deliveries.set_delivery(
                conn, entry.product_id, entry.version, peer, DeliveryState.SENT, now
            )
        return Outcome.SENT
    if status == "rejected" and result.get("permanent"):
        outbox.mark_dead(conn, entry.id, reason)
        if envelope:
            assert entry.product_id is not None
            assert entry.version is not None
            deliveries.set_delivery(
                conn,
                entry.product_id,
                entry.version,
                peer,
                DeliveryState.DENIED,
                now,
                detail=(
                    f"not sent: {reason}" if result.get("local") else f"refused by {peer}: {reason}"
                ),
            )
        audit.record(
            conn,
            audit.Action.DEAD_LETTER,
            at=now,
            actor=ctx.party,
            party=peer,
            product_id=entry.product_id,
            version=entry.version,
            detail={"kind": entry.kind, "reason": reason},
        )
        return Outcome.DEAD
    wait = backoff(entry.attempts, rng)
    outbox.retry_later(conn, entry.id, reason, now + timedelta(seconds=wait))
    return Outcome.RETRY


def cancelled(
    conn: Connection,
    ctx: NodeContext,
    peer: str,
    entry: OutboxEntry,
    decision: Decision,
    now: datetime,
) -> None:
    """The gate refused `entry` at the lease: cancelled with its reasons, never sent; the
    delivery says why and the refusal is on record and counted."""
    why = "; ".join(decision.texts)
    outbox.cancel(conn, [entry.id], why)
    for rule in decision.rules:
        ctx.count_denial(rule)
    assert entry.product_id is not None
    assert entry.version is not None
    deliveries.set_delivery(
        conn,
        entry.product_id,
        entry.version,
        peer,
        DeliveryState.CANCELLED,
        now,
        detail=f"not sent: {why}",
    )
    audit.record(
        conn,
        audit.Action.CANCEL,
        at=now,
        actor=ctx.party,
        party=peer,
        product_id=entry.product_id,
        version=entry.version,
        detail={"reasons": list(decision.texts), "rules": list(decision.rules)},
    )
