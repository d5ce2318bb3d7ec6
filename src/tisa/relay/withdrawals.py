"""Recalls and revocations, wherever they land: what they withdraw stops moving at once.

A recall (the originator withdraws a product version) and a revocation (the originator
withdraws a consent) are kept at every node that makes or hears of them, even of something
it does not hold, so what arrives after them is refused by the gate. What is still queued for
them is cancelled in the same transaction, with the reason, and the parties that may hold
the product (or that a revoked consent named) are told in turn.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tisa.domain.states import DeliveryState
from tisa.relay import routing, stix_feed
from tisa.relay.context import NodeContext
from tisa.relay.messages import MessageKind, Recall, Revocation
from tisa.store import attachments, audit, consents, deliveries, outbox, products, recalls
from tisa.store.database import after_commit


def _cancel(
    ctx: NodeContext, conn: Connection, cancelled: list[outbox.OutboxEntry], why: str, now: datetime
) -> None:
    """Record, for each envelope cancelled before it moved, why it never left."""
    for entry in cancelled:
        if entry.product_id is None or entry.version is None:
            continue
        deliveries.set_delivery(
            conn,
            entry.product_id,
            entry.version,
            entry.peer,
            DeliveryState.CANCELLED,
            now,
            detail=why,
        )
        audit.record(
            conn,
            audit.Action.CANCEL,
            at=now,
            actor=ctx.party,
            party=entry.peer,
            product_id=entry.product_id,
            version=entry.version,
            detail={"reason": why},
        )


def recall(
    ctx: NodeContext, conn: Connection, recall: Recall, token: str, *, heard_from: str | None
) -> bool:
    """Apply an originator's recall here: keep it, mark the version recalled, cancel what is
    still queued of it, withdraw its attachments (after the commit; never at the originator)
    and pass the recall to every peer this node may have sent the version to. `heard_from`
    is None at the originator itself. Returns False if the recall was already applied.
    """
    now = ctx.clock()
    fresh = recalls.record_recall(
        conn,
        recalls.RecallRow(
            product_id=recall.product_id,
            version=recall.version,
            originator=recall.originator,
            recalled_at=recall.recalled_at,
            reason=recall.reason,
            token=token,
        ),
        now,
    )
    row = products.get(conn, recall.product_id, recall.version)
    if row is not None and row.recalled_at is None:
        products.mark_recalled(
            conn,
            row.product_id,
            row.version,
            recalled_at=recall.recalled_at,
            recall=token,
            reason=recall.reason,
        )
        if row.manifest is not None:
            stix_feed.add_recall(
                conn,
                ctx.arrangement,
                ctx.party,
                routing.stored_product(row),
                recall.recalled_at,
                now,
            )
    elif not fresh:
        return False
    # Whoever this node may have sent the version to, before the cancellations below.
    holders = [] if row is None else deliveries.holders(conn, row.product_id, row.version)
    why = f"recalled by {recall.originator} before it was sent: {recall.reason}"
    cancelled = outbox.cancel_pending(
        conn, now=now, reason=why, product=(recall.product_id, recall.version)
    )
    _cancel(ctx, conn, cancelled, why, now)
    detail: dict[str, object] = {"reason": recall.reason, "held": row is not None}
    if heard_from is not None:
        detail["from"] = heard_from
    audit.record(
        conn,
        audit.Action.RECALL,
        at=now,
        actor=recall.originator,
        party=recall.originator,
        product_id=recall.product_id,
        version=recall.version,
        detail=detail,
    )
    if row is None:
        return True
    if ctx.party != recall.originator:
        _withdraw_blobs(ctx, conn, row.product_id, row.version)
    lane = routing.lane_of(row)
    for holder in holders:
        if holder in (recall.originator, ctx.party, heard_from):
            continue
        if holder not in ctx.arrangement.peers_of(ctx.party):
            continue  # reached through the hub, which passes the recall on
        routing.queue_message(
            conn,
            holder,
            MessageKind.RECALL,
            token,
            lane=lane,
            now=now,
            product_id=row.product_id,
            version=row.version,
        )
    return True


def _withdraw_blobs(ctx: NodeContext, conn: Connection, product_id: str, version: int) -> None:
    """A recalled version's attachments leave this node's store once the recall commits,
    unless another version that is not recalled still names them."""
    doomed: list[str] = []
    for named in attachments.named_by(conn, product_id, version):
        if attachments.live_users_of(conn, named["digest"]) == 0:
            doomed.append(named["digest"])
            if named["preview"]:
                doomed.append(named["preview"])

    def remove() -> None:
        for digest in doomed:
            ctx.blobs.delete(digest)

    if doomed:
        after_commit(conn, remove)


def revocation(
    ctx: NodeContext,
    conn: Connection,
    revocation: Revocation,
    token: str,
    *,
    recipient: str | None,
    heard_from: str | None,
) -> bool:
    """Apply an originator's revocation of a consent here: keep it (a relay citing it is then
    refused), mark the consent revoked where it is held, cancel the relays still queued
    under it, and at the hub tell the recipient the consent named. Returns False if the
    revocation was already kept."""
    now = ctx.clock()
    row = consents.get(conn, revocation.consent_id)
    named = recipient if row is None else row.recipient
    fresh = consents.record_revocation(
        conn,
        consents.RevocationRow(
            consent_id=revocation.consent_id,
            originator=revocation.originator,
            recipient=named,
            revoked_at=revocation.revoked_at,
            token=token,
        ),
        now,
    )
    if row is not None and row.revoked_at is None:
        consents.revoke(conn, row.consent_id, revocation.revoked_at, token)
    elif not fresh:
        return False
    why = f"consent {revocation.consent_id} was revoked by {revocation.originator}"
    cancelled = outbox.cancel_pending(conn, now=now, reason=why, consent_id=revocation.consent_id)
    _cancel(ctx, conn, cancelled, f"{why} before it was sent", now)
    audit.record(
        conn,
        audit.Action.CONSENT_REVOKE,
        at=now,
        actor=revocation.originator,
        party=named,
        detail={"consent": revocation.consent_id, "cancelled": len(cancelled)}
        | ({} if heard_from is None else {"from": heard_from}),
    )
    hub = ctx.arrangement.hub
    if ctx.party == hub and named is not None and named in ctx.arrangement.peers_of(hub):
        # The recipient hears of it too, so it refuses a relay citing it that crosses this.
        routing.queue_message(conn, named, MessageKind.REVOCATION, token, lane=0, now=now)
    elif ctx.party == revocation.originator:
        routing.queue_message(conn, hub, MessageKind.REVOCATION, token, lane=0, now=now)
    return True
