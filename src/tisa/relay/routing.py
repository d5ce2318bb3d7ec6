"""Where a product goes next, decided by the rules of release, and queued in the outbox.

Used by the originator when its release officer releases, and by the hub when a product
arrives (relay) or a consent arrives (held products go on). Queueing asks the gate with the
QUEUE policy, which lets a suspended channel's queue fill: the sender asks again (MOVE) when
it takes each message, and waits out the suspension.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection

from tisa.crypto.trust import Signed
from tisa.domain.markings import Precedence
from tisa.domain.model import Product
from tisa.domain.policy import QUEUE, Decision
from tisa.domain.questions import Movement
from tisa.domain.states import DeliveryState
from tisa.domain.wire import ManifestIn, parse
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    Attestation,
    ConsentRequest,
    MessageKind,
    message,
    payload,
)
from tisa.store import audit, consents, deliveries, outbox, products


def stored_product(row: products.ProductRow) -> Product:
    """The domain product of a stored row (its body is the manifest form), for drafts and
    for rows already verified; an opening verifies through `tisa.relay.provenance`."""
    return parse(ManifestIn, row.body).product()


def lane_of(row: products.ProductRow) -> int:
    """The outbox lane of a stored version (its precedence's)."""
    return Precedence(row.precedence).lane


def queue_message(
    conn: Connection,
    peer: str,
    kind: MessageKind,
    token: str,
    *,
    lane: int,
    now: datetime,
    product_id: str | None = None,
    version: int | None = None,
    consent_id: str | None = None,
    **extra: str | None,
) -> None:
    """Put one signed message in the outbox for `peer`, in `lane` (0 is served first);
    `consent_id` names the consent a relayed envelope cites."""
    outbox.enqueue(
        conn,
        peer=peer,
        lane=lane,
        kind=kind.value,
        message=message(kind, token, **extra),
        now=now,
        product_id=product_id,
        version=version,
        consent_id=consent_id,
    )


def queue_envelope(
    ctx: NodeContext,
    conn: Connection,
    product: Product,
    manifest: str,
    recipient: str,
    now: datetime,
    *,
    attestation: str | None = None,
    consent: str | None = None,
    consent_id: str | None = None,
) -> None:
    """Put a product's envelope in the outbox for `recipient`, in its precedence lane."""
    queue_message(
        conn,
        recipient,
        MessageKind.ENVELOPE,
        manifest,
        attestation=attestation,
        consent=consent,
        lane=product.precedence.lane,
        now=now,
        product_id=product.id,
        version=product.version,
        consent_id=consent_id,
    )
    deliveries.set_delivery(conn, product.id, product.version, recipient, DeliveryState.QUEUED, now)


def record_denial(
    ctx: NodeContext,
    conn: Connection,
    product: Product,
    recipient: str,
    decision: Decision,
    now: datetime,
) -> None:
    """A movement the rules refused: delivery state and audit entry, with every reason."""
    for reason in decision.reasons:
        ctx.count_denial(reason.rule.value)
    deliveries.set_delivery(
        conn,
        product.id,
        product.version,
        recipient,
        DeliveryState.DENIED,
        now,
        detail="; ".join(decision.texts),
    )
    audit.record(
        conn,
        audit.Action.DENY,
        at=now,
        actor=ctx.party,
        party=recipient,
        product_id=product.id,
        version=product.version,
        detail={"reasons": list(decision.texts), "rules": [r.rule.value for r in decision.reasons]},
    )


def relay(
    ctx: NodeContext,
    conn: Connection,
    product: Product,
    manifest: str,
    digest: str,
    now: datetime,
) -> None:
    """At the hub: pass a spoke's product on to every other party its REL TO names, if the
    originator consents; otherwise hold it and ask the originator."""
    recipients = [
        r
        for r in ctx.arrangement.peers_of(ctx.party)
        if r != product.originator and r in product.markings.rel_to
    ]
    done = (DeliveryState.QUEUED, DeliveryState.SENT, DeliveryState.DELIVERED)
    states = {d.party: d.state for d in deliveries.deliveries_of(conn, product.id, product.version)}
    recipients = [r for r in recipients if states.get(r) not in [s.value for s in done]]
    moves = [Movement(product, ctx.party, r) for r in recipients]
    for move, decision in zip(moves, ctx.gate.moves(conn, QUEUE, moves), strict=True):
        recipient = move.recipient
        if decision.allowed:
            held = ctx.gate.consent_for(conn, move)
            assert held is not None  # the consent rule passed, so one covers this relay
            row = consents.get(conn, held.consent.id)
            assert row is not None
            attestation = ctx.trust.sign(
                Signed.ATTESTATION,
                payload(
                    Attestation(
                        type="relay-attestation",
                        product_id=product.id,
                        version=product.version,
                        digest=digest,
                        originator=product.originator,
                        hub=ctx.party,
                        recipient=recipient,
                        consent_id=held.consent.id,
                        relayed_at=now,
                    )
                ),
            )
            queue_envelope(
                ctx,
                conn,
                product,
                manifest,
                recipient,
                now,
                attestation=attestation,
                consent=row.token,
                consent_id=held.consent.id,
            )
            for request in consents.open_requests_for(conn, product.id, recipient):
                consents.decide_request(
                    conn, request.request_id, "granted", now, product.originator, None
                )
            audit.record(
                conn,
                audit.Action.RELAY,
                at=now,
                actor=ctx.party,
                party=recipient,
                product_id=product.id,
                version=product.version,
                detail={"consent": held.consent.id, "originator": product.originator},
            )
        elif decision.held:
            hold(ctx, conn, product, recipient, decision, now)
        elif states.get(recipient) != DeliveryState.DENIED.value:
            record_denial(ctx, conn, product, recipient, decision, now)


def hold(
    ctx: NodeContext,
    conn: Connection,
    product: Product,
    recipient: str,
    decision: Decision,
    now: datetime,
) -> None:
    """Keep a product at the hub and ask its originator for consent (once per version)."""
    request_id = str(uuid.uuid4())
    token = ctx.trust.sign(
        Signed.CONSENT_REQUEST,
        payload(
            ConsentRequest(
                type="consent-request",
                request_id=request_id,
                product_id=product.id,
                version=product.version,
                originator=product.originator,
                hub=ctx.party,
                recipient=recipient,
                requested_at=now,
                reasons=list(decision.texts),
            )
        ),
    )
    fresh = consents.add_request(
        conn,
        consents.RequestRow(
            request_id=request_id,
            product_id=product.id,
            version=product.version,
            originator=product.originator,
            recipient=recipient,
            state="open",
            token=token,
            requested_at=now,
            decided_at=None,
            decided_by=None,
            reason=None,
        ),
    )
    deliveries.set_delivery(
        conn,
        product.id,
        product.version,
        recipient,
        DeliveryState.HELD,
        now,
        detail="; ".join(decision.texts),
    )
    if not fresh:
        return
    queue_message(
        conn,
        product.originator,
        MessageKind.CONSENT_REQUEST,
        token,
        lane=product.precedence.lane,
        now=now,
        product_id=product.id,
        version=product.version,
    )
    audit.record(
        conn,
        audit.Action.CONSENT_REQUEST,
        at=now,
        actor=ctx.party,
        party=recipient,
        product_id=product.id,
        version=product.version,
        detail={"reasons": list(decision.texts), "request": request_id},
    )


def relay_held(ctx: NodeContext, conn: Connection, originator: str, now: datetime) -> None:
    """At the hub, after a consent arrives: retry every product of `originator` still held."""
    pending = {
        (r.product_id, r.version)
        for r in consents.requests(conn, "open")
        if r.originator == originator
    }
    for product_id, version in sorted(pending):
        row = products.get(conn, product_id, version)
        if row is None or row.manifest is None or row.digest is None or row.recalled_at:
            continue
        relay(ctx, conn, stored_product(row), row.manifest, row.digest, now)
