"""Where a product goes next, decided by the rules of release, and queued in the outbox.

Used by the originator when its release officer releases, and by the hub when a product
arrives (relay) or a consent arrives (held products go on). Routing ignores channel
suspension on purpose: a suspended channel holds its queue, the sender waits.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection

from tisa.model import HeldConsent, Product
from tisa.policy import Decision, Movement, Situation, decide_movement, find_consent
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    Attestation,
    ConsentRequest,
    MessageKind,
    message,
    payload,
)
from tisa.store import audit, consents, outbox, products
from tisa.trust import Signed
from tisa.wire import ConsentToken, ManifestIn, parse


def stored_product(row: products.ProductRow) -> Product:
    """The domain product of a stored row (its body is the manifest form)."""
    return parse(ManifestIn, row.body).product()


def held_consents(conn: Connection) -> list[HeldConsent]:
    """Every consent this node holds, with revocation times."""
    out = []
    for row in consents.for_originator(conn):
        consent = parse(ConsentToken, row.terms).consent()
        out.append(HeldConsent(consent, row.revoked_at))
    return out


def situation(ctx: NodeContext, conn: Connection, now: datetime) -> Situation:
    """What the rules consult, as this node holds it now."""
    return Situation(ctx.arrangement, held_consents(conn), frozenset(), now)


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
    **extra: str | None,
) -> None:
    """Put one signed message in the outbox for `peer`, in `lane` (0 is served first)."""
    outbox.enqueue(
        conn,
        peer=peer,
        lane=lane,
        kind=kind.value,
        message=message(kind, token, **extra),
        now=now,
        product_id=product_id,
        version=version,
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
    )
    products.set_delivery(conn, product.id, product.version, recipient, "queued", now)


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
    products.set_delivery(
        conn,
        product.id,
        product.version,
        recipient,
        "denied",
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
    where = situation(ctx, conn, now)
    for recipient in ctx.arrangement.peers_of(ctx.party):
        if recipient == product.originator or recipient not in product.markings.rel_to:
            continue
        state = {
            d.party: d.state for d in products.deliveries_of(conn, product.id, product.version)
        }.get(recipient)
        if state in ("queued", "sent", "delivered", "denied"):
            continue
        move = Movement(product, ctx.party, recipient)
        decision = decide_movement(move, where)
        if decision.allowed:
            held = find_consent(move, where)
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
        else:
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
    products.set_delivery(
        conn,
        product.id,
        product.version,
        recipient,
        "held",
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
