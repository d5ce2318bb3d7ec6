"""Release: a release officer signs a draft and queues it for every recipient the rules allow,
or recalls a released version from every holder."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.domain.canonical import canonical_json, sha256_digest
from tisa.domain.model import Product
from tisa.domain.policy import QUEUE
from tisa.domain.questions import Movement
from tisa.domain.states import DeliveryState, ProductState
from tisa.errors import (
    Conflict,
    InputInvalid,
    NotFound,
    PolicyDenied,
)
from tisa.relay import routing, stix_feed, withdrawals
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    Recall,
    payload,
)
from tisa.services.accounts import Role, User
from tisa.services.drafts import own_draft
from tisa.store import audit, deliveries, products
from tisa.store.products import ProductRow


@dataclass(frozen=True)
class Route:
    """How a release would reach one party: straight over a channel (`via` None), or through
    the hub, which relays under the originator's consent in force (`consent`, its id) or,
    with none, holds the product and asks the originator first."""

    party: str
    via: str | None = None
    consent: str | None = None


@dataclass(frozen=True)
class ReleasePreview:
    """What releasing a draft would send and to whom, as the rules see it now; `refusals`
    empty: it may be released. `reviewed` names the draft's exact content, so a confirmation
    releases only what was shown."""

    product: Product
    routes: tuple[Route, ...]
    refusals: tuple[str, ...]
    reviewed: str


def reviewed_digest(row: ProductRow) -> str:
    """The fingerprint of a draft's content as stored (its body, canonical JSON)."""
    return sha256_digest(canonical_json(row.body))


class Releases:
    """Release and recall this node's products. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    @property
    def party(self) -> str:
        """This node's party code."""
        return self.ctx.party

    def refusals(
        self, conn: Connection, product: Product
    ) -> tuple[list[str], list[str], list[str]]:
        """The peers a release sends to, the parties it reaches, and every rule's refusal
        (the gate's QUEUE policy: a suspended channel holds the queue, it refuses nothing)."""
        arrangement = self.ctx.arrangement
        # Every party REL TO names that a channel reaches, and always the hub: all that
        # leaves a spoke goes through it, so if REL TO lacks it, the rule says so.
        peers = [
            p
            for p in arrangement.peers_of(self.party)
            if p in product.markings.rel_to or p == arrangement.hub
        ]
        others = sorted(product.markings.rel_to - {self.party})
        if not others:
            return peers, others, ["REL TO names no other party; there is no one to release to"]
        moves = [Movement(product, self.party, peer) for peer in peers]
        reasons = [
            text for decision in self.ctx.gate.moves(conn, QUEUE, moves) for text in decision.texts
        ]
        return peers, others, list(dict.fromkeys(reasons))

    def preview(self, user: User, product_id: str, version: int) -> ReleasePreview:
        """What releasing this draft would do now: the parties it would reach and how, and
        every rule's refusal. Changes nothing.

        Raises:
            AccessDenied: the user is not a release officer.
            NotFound: no such draft.
            Conflict: already released.
        """
        user.require(Role.RELEASE_OFFICER)
        arrangement = self.ctx.arrangement
        with self.ctx.db.read() as conn:
            row = own_draft(conn, self.party, product_id, version)
            product = routing.stored_product(row)
            peers, others, reasons = self.refusals(conn, product)
            routes = []
            for party in others:
                if party in peers:
                    routes.append(Route(party))
                elif party in arrangement.parties:
                    # The hub's own question when it relays, asked of the consents held here.
                    move = Movement(product, arrangement.hub, party)
                    held = self.ctx.gate.consent_for(conn, move)
                    consent = None if held is None else held.consent.id
                    routes.append(Route(party, via=arrangement.hub, consent=consent))
        return ReleasePreview(product, tuple(routes), tuple(reasons), reviewed_digest(row))

    def release(
        self, user: User, product_id: str, version: int, *, reviewed: str | None = None
    ) -> dict[str, str]:
        """Sign a draft and queue it for every channel peer its REL TO names. `reviewed`: the
        `ReleasePreview.reviewed` the officer confirmed (None: no preview was shown, as
        through the API).

        Returns each recipient party and its state ('queued', or 'via USA' for a party the
        hub relays to).

        Raises:
            AccessDenied: the user is not a release officer.
            NotFound: no such draft.
            Conflict: already released, or the draft changed since it was reviewed.
            PolicyDenied: a rule of release refuses a named recipient; nothing is released.
        """
        user.require(Role.RELEASE_OFFICER)
        now = self.ctx.clock()
        arrangement = self.ctx.arrangement
        try:
            with self.ctx.db.begin() as conn:
                row = own_draft(conn, self.party, product_id, version)
                if reviewed is not None and reviewed != reviewed_digest(row):
                    raise Conflict(
                        f"{product_id} v{version} changed after it was reviewed; review it again"
                    )
                product = routing.stored_product(row)
                peers, others, reasons = self.refusals(conn, product)
                if reasons:
                    raise PolicyDenied(tuple(reasons))
                token = self.ctx.trust.sign(Signed.PRODUCT, row.body)
                digest = payload_digest(token)
                released = products.mark_released(
                    conn,
                    product_id,
                    version,
                    manifest=token,
                    digest=digest,
                    released_at=now,
                    released_by=user.username,
                )
                if not released:
                    # Another release officer's release committed first.
                    raise Conflict(f"{product_id} v{version} is no longer a draft")
                stix_feed.add_version(conn, arrangement, self.party, product, now)
                outcome: dict[str, str] = {}
                for peer in peers:
                    routing.queue_envelope(self.ctx, conn, product, token, peer, now)
                    outcome[peer] = "queued"
                for party in others:
                    if party not in outcome and party in arrangement.parties:
                        deliveries.set_delivery(
                            conn,
                            product_id,
                            version,
                            party,
                            DeliveryState.QUEUED,
                            now,
                            detail=f"via {arrangement.hub}",
                            via=arrangement.hub,
                        )
                        outcome[party] = f"via {arrangement.hub}"
                audit.record(
                    conn,
                    audit.Action.RELEASE,
                    at=now,
                    actor=user.username,
                    product_id=product_id,
                    version=version,
                    detail={"digest": digest, "to": outcome},
                )
        except PolicyDenied as denied:
            # The release rolled back; the refusal itself is recorded, with every reason.
            with self.ctx.db.begin() as conn:
                audit.record(
                    conn,
                    audit.Action.DENY,
                    at=now,
                    actor=user.username,
                    product_id=product_id,
                    version=version,
                    detail={"reasons": list(denied.reasons)},
                )
            raise
        self.ctx.wake()
        return outcome

    def recall(self, user: User, product_id: str, version: int, reason: str) -> None:
        """Withdraw a released version of this node's product from every holder: what is
        still queued of it is cancelled, and the recall goes to every peer it may have
        reached.

        Raises:
            AccessDenied: not a release officer.
            InputInvalid: no reason given.
            NotFound: no such released version of this node.
            Conflict: already recalled.
        """
        user.require(Role.RELEASE_OFFICER)
        if not reason.strip():
            raise InputInvalid("a recall needs a reason")
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            row = products.get(conn, product_id, version)
            if row is None or row.originator != self.party or row.state != ProductState.RELEASED:
                raise NotFound(f"no released {product_id} v{version} of {self.party}")
            if row.recalled_at is not None:
                raise Conflict(f"{product_id} v{version} is already recalled")
            recall = Recall(
                type="recall",
                product_id=product_id,
                version=version,
                originator=self.party,
                reason=reason,
                recalled_at=now,
            )
            token = self.ctx.trust.sign(Signed.RECALL, payload(recall))
            withdrawals.recall(self.ctx, conn, recall, token, heard_from=None)
        self.ctx.wake()
