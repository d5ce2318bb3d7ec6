"""What a node does with each message a peer sends it.

Every signature is verified against the arrangement's pins before anything is stored; every
product passes the rules of release again here, at the receiver. Receiving is idempotent:
the same message twice stores nothing new and answers "duplicate".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.domain.policy import MOVE
from tisa.domain.questions import Movement
from tisa.domain.states import DeliveryState, ProductState
from tisa.domain.wire import iso, parse
from tisa.errors import ChannelSuspended, Conflict, NotFound, TisaError
from tisa.relay import consent_messages, routing, stix_feed, withdrawals
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    Message,
    MessageKind,
    Outcome,
    Recall,
    Receipt,
    payload,
    require,
)
from tisa.relay.provenance import Attachments, Envelope, verify_envelope
from tisa.store import attachments, audit, deliveries, products
from tisa.store.database import savepoint


def receive(ctx: NodeContext, sender: str, msg: Message) -> Outcome:
    """Verify and take one message from `sender`.

    Raises:
        SignatureInvalid: a token does not verify against its signer's pin.
        PolicyDenied: a rule of release refuses the product here.
        InputInvalid: the message is malformed or inconsistent.
        Conflict: contradicts what is held (same version, other content).
        NotFound: refers to something this node does not hold.
        Incomplete: a blob the manifest names has not arrived yet.
    """
    (outcome,) = receive_many(ctx, sender, [msg])
    if isinstance(outcome, TisaError):
        raise outcome
    return outcome


def receive_many(
    ctx: NodeContext, sender: str, msgs: Sequence[Message]
) -> list[Outcome | TisaError]:
    """Take several messages from `sender` in one transaction, each in a savepoint of its own:
    a refused message changes nothing and is recorded with its reason; the others stand.

    Raises:
        SQLAlchemyError: the store failed; nothing of the batch was kept.
    """
    results: list[Outcome | TisaError] = []
    with ctx.db.begin() as conn:
        for msg in msgs:
            try:
                with savepoint(conn):
                    results.append(_HANDLERS[msg.kind](ctx, conn, sender, msg))
            except TisaError as exc:
                audit.record(
                    conn,
                    audit.Action.REFUSE,
                    at=ctx.clock(),
                    actor=sender,
                    party=sender,
                    detail={
                        "kind": msg.kind.value,
                        "error": type(exc).__name__,
                        "reason": exc.reason,
                        "digest": _digest_or_none(msg.token),
                    },
                )
                results.append(exc)
    # After the commit, so the sender sees what these messages queued (receipts, relays).
    ctx.wake()
    return results


def _digest_or_none(token: str) -> str | None:
    try:
        return payload_digest(token)
    except TisaError:
        return None


def _envelope(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    now = ctx.clock()
    verified = verify_envelope(
        ctx.trust,
        Envelope(msg.token, msg.attestation, msg.consent),
        sender=sender,
        recipient=ctx.party,
        blobs=ctx.blobs,
        # The sender puts blobs first; until they are whole, the envelope waits (Incomplete).
        attachments=Attachments.HELD,
    )
    require(
        verified.arrangement == ctx.arrangement.digest,
        f"manifest was made under arrangement {verified.arrangement}, not {ctx.arrangement.digest}",
    )
    product, digest = verified.product, verified.digest
    originator = product.originator
    consent_id = verified.provenance.consent_id
    decision = ctx.gate.move(
        conn,
        MOVE,
        Movement(product, sender, ctx.party, consent_id),
        presented=() if verified.consent is None else (verified.consent,),
    )
    if decision.held:
        # A suspension here: the sender keeps it and tries again once the channel is up.
        raise ChannelSuspended("; ".join(decision.texts))
    decision.raise_if_denied()

    existing = products.get(conn, product.id, product.version)
    if existing is not None:
        if existing.digest != digest:
            raise Conflict(f"{product.id} v{product.version} is already held with other content")
        return "duplicate"

    products.insert_product(
        conn,
        products.NewVersion(
            product_id=product.id,
            version=product.version,
            originator=originator,
            classification=int(product.classification),
            precedence=product.precedence.value,
            title=product.title,
            topics=sorted(product.topics),
            state=ProductState.RECEIVED,
            body=verified.body,
            manifest=msg.token,
            digest=digest,
            attestation=msg.attestation,
            consent=msg.consent,
            author=product.author,
            created_at=product.created_at,
            received_from=sender,
            received_at=now,
        ),
    )
    for attachment in product.attachments:
        attachments.link(conn, product.id, product.version, attachment.digest, None)
    stix_feed.add_version(conn, ctx.arrangement, ctx.party, product, now)
    via = sender if sender != originator else None
    receipt = ctx.trust.sign(
        Signed.RECEIPT,
        payload(
            Receipt(
                type="receipt",
                product_id=product.id,
                version=product.version,
                digest=digest,
                originator=originator,
                recipient=ctx.party,
                via=via,
                consent=consent_id,
                received_at=now,
            )
        ),
    )
    routing.queue_message(
        conn,
        sender,
        MessageKind.RECEIPT,
        receipt,
        lane=product.precedence.lane,
        now=now,
        product_id=product.id,
        version=product.version,
    )
    audit.record(
        conn,
        audit.Action.RECEIVE,
        at=now,
        actor=sender,
        party=originator,
        product_id=product.id,
        version=product.version,
        detail={"digest": digest, "via": via, "precedence": product.precedence.value},
    )
    if ctx.is_hub and originator != ctx.party:
        routing.relay(ctx, conn, product, msg.token, digest, now)
    return "stored"


def _receipt(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    now = ctx.clock()
    recipient = ctx.trust.claimed(msg.token, "recipient")
    receipt = parse(Receipt, ctx.trust.verify(Signed.RECEIPT, msg.token, signer=recipient))
    row = products.get(conn, receipt.product_id, receipt.version)
    if row is None or row.digest != receipt.digest:
        raise NotFound(f"receipt for {receipt.product_id} v{receipt.version}, which is not held")
    require(receipt.originator == row.originator, "receipt names another originator")
    # The recipient itself, or the hub passing the recipient's receipt back to the originator.
    require(
        sender in (recipient, ctx.arrangement.hub),
        f"{sender} may not pass on {recipient}'s receipt",
    )
    before = {d.party: d for d in deliveries.deliveries_of(conn, row.product_id, row.version)}
    if recipient in before and before[recipient].receipt == msg.token:
        return "duplicate"
    deliveries.set_delivery(
        conn,
        row.product_id,
        row.version,
        recipient,
        DeliveryState.DELIVERED,
        now,
        detail=f"received {iso(receipt.received_at)}",
        via=receipt.via,
        receipt=msg.token,
        delivered_at=receipt.received_at,
    )
    audit.record(
        conn,
        audit.Action.RECEIPT,
        at=now,
        actor=recipient,
        party=recipient,
        product_id=row.product_id,
        version=row.version,
        detail={"via": receipt.via, "received_at": iso(receipt.received_at)},
    )
    if ctx.is_hub and row.originator not in (ctx.party, sender):
        routing.queue_message(
            conn,
            row.originator,
            MessageKind.RECEIPT,
            msg.token,
            lane=routing.lane_of(row),
            now=now,
            product_id=row.product_id,
            version=row.version,
        )
    return "stored"


def _recall(ctx: NodeContext, conn: Connection, sender: str, msg: Message) -> Outcome:
    originator = ctx.trust.claimed(msg.token, "originator")
    recall = parse(Recall, ctx.trust.verify(Signed.RECALL, msg.token, signer=originator))
    require(recall.originator == originator, "a recall comes from the product's originator")
    require(
        sender in (originator, ctx.arrangement.hub),
        f"{sender} may not pass on {originator}'s recall",
    )
    row = products.get(conn, recall.product_id, recall.version)
    if row is not None:
        require(row.originator == originator, "recall is not from the product's originator")
    # A recall of a version not held is kept too: an envelope that arrives after it (it
    # crossed the recall, or was cancelled too late) is refused.
    applied = withdrawals.recall(ctx, conn, recall, msg.token, heard_from=sender)
    return "stored" if applied else "duplicate"


_Handler = Callable[[NodeContext, Connection, str, Message], Outcome]
_HANDLERS: dict[MessageKind, _Handler] = {
    MessageKind.ENVELOPE: _envelope,
    MessageKind.RECEIPT: _receipt,
    MessageKind.CONSENT: consent_messages.consent,
    MessageKind.REVOCATION: consent_messages.revocation,
    MessageKind.CONSENT_REQUEST: consent_messages.consent_request,
    MessageKind.CONSENT_DENIAL: consent_messages.consent_denial,
    MessageKind.RECALL: _recall,
}
