"""What a node does with the consent messages a peer sends it: consents and their revocations
at the hub, the hub's requests for consent and their denials at a spoke."""

from __future__ import annotations

from sqlalchemy import Connection

from tisa.crypto.trust import Signed
from tisa.domain.states import DeliveryState
from tisa.domain.wire import ConsentToken, parse
from tisa.errors import NotFound
from tisa.relay import routing, withdrawals
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    ConsentDenial,
    ConsentRequest,
    Message,
    Outcome,
    Revocation,
    require,
)
from tisa.store import audit, consents, deliveries, products


def consent(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    now = ctx.clock()
    terms = ctx.trust.verify(Signed.CONSENT, msg.token, signer=sender)
    grant = parse(ConsentToken, terms).consent()
    require(grant.originator == sender, "a consent comes from its originator only")
    require(grant.hub == ctx.party, f"consent is for hub {grant.hub}, not {ctx.party}")
    if grant.product_id is not None:
        named = products.latest(conn, grant.product_id)
        require(
            named is None or named.originator == grant.originator,
            f"{grant.originator} may consent only for its own products, "
            f"not {grant.product_id} of {named.originator if named else '?'}",
        )
    fresh = consents.add(
        conn,
        consents.ConsentRow(
            consent_id=grant.id,
            originator=grant.originator,
            recipient=grant.recipient,
            product_id=grant.product_id,
            token=msg.token,
            terms=terms,
            issued_at=grant.issued_at,
            expires_at=grant.expires_at,
            revoked_at=None,
            revocation=None,
            created_by=None,
        ),
    )
    if not fresh:
        return "duplicate"
    audit.record(
        conn,
        audit.Action.CONSENT_GRANT,
        at=now,
        actor=sender,
        party=grant.recipient,
        product_id=grant.product_id,
        detail={"consent": grant.id, "standing": grant.standing},
    )
    routing.relay_held(ctx, conn, sender, now)
    return "stored"


def revocation(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    originator = ctx.trust.claimed(msg.token, "originator")
    revocation = parse(
        Revocation, ctx.trust.verify(Signed.REVOCATION, msg.token, signer=originator)
    )
    require(revocation.originator == originator, "only the originator revokes its consent")
    # From the originator to the hub, and from the hub to the recipient the consent named.
    require(
        sender in (originator, ctx.arrangement.hub),
        f"{sender} may not pass on {originator}'s revocation",
    )
    held = consents.get(conn, revocation.consent_id)
    if held is not None:
        require(held.originator == originator, "the consent is another party's")
    applied = withdrawals.revocation(
        ctx, conn, revocation, msg.token, recipient=None, heard_from=sender
    )
    return "stored" if applied else "duplicate"


def consent_request(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    now = ctx.clock()
    require(sender == ctx.arrangement.hub, "only the hub asks for consent")
    request = parse(
        ConsentRequest, ctx.trust.verify(Signed.CONSENT_REQUEST, msg.token, signer=sender)
    )
    require(request.originator == ctx.party, "consent request is for another originator")
    if products.get(conn, request.product_id, request.version) is None:
        raise NotFound(f"consent request for {request.product_id}, which this node never made")
    fresh = consents.add_request(
        conn,
        consents.RequestRow(
            request_id=request.request_id,
            product_id=request.product_id,
            version=request.version,
            originator=request.originator,
            recipient=request.recipient,
            state="open",
            token=msg.token,
            requested_at=request.requested_at,
            decided_at=None,
            decided_by=None,
            reason=None,
        ),
    )
    if not fresh:
        return "duplicate"
    deliveries.set_delivery(
        conn,
        request.product_id,
        request.version,
        request.recipient,
        DeliveryState.HELD,
        now,
        detail=f"held at {sender}: awaiting this node's consent",
        via=sender,
    )
    audit.record(
        conn,
        audit.Action.CONSENT_REQUEST,
        at=now,
        actor=sender,
        party=request.recipient,
        product_id=request.product_id,
        version=request.version,
        detail={"request": request.request_id, "reasons": request.reasons},
    )
    return "stored"


def consent_denial(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    now = ctx.clock()
    denial = parse(ConsentDenial, ctx.trust.verify(Signed.CONSENT_DENIAL, msg.token, signer=sender))
    require(denial.originator == sender, "only the originator denies consent")
    request = consents.get_request(conn, denial.request_id)
    if request is None:
        raise NotFound(f"no consent request {denial.request_id}")
    require(request.originator == sender, "the request is for another originator")
    if request.state != "open":
        return "duplicate"
    consents.decide_request(conn, request.request_id, "denied", now, sender, denial.reason)
    deliveries.set_delivery(
        conn,
        request.product_id,
        request.version,
        request.recipient,
        DeliveryState.DENIED,
        now,
        detail=f"{sender} denied consent: {denial.reason}",
    )
    audit.record(
        conn,
        audit.Action.CONSENT_DENY,
        at=now,
        actor=sender,
        party=request.recipient,
        product_id=request.product_id,
        version=request.version,
        detail={"reason": denial.reason},
    )
    return "stored"
