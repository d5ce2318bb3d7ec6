"""Consent: a spoke's release officer grants the hub consents (standing rules or one product),
revokes them, and answers the hub's requests; the hub's staff see what each let through."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tisa.crypto import jws
from tisa.crypto.trust import Signed
from tisa.domain.consent import Consent
from tisa.domain.model import topic_matches
from tisa.domain.states import DeliveryState
from tisa.domain.wire import (
    ConsentIn,
    ConsentToken,
    consent_to_wire,
    parse,
)
from tisa.errors import (
    Conflict,
    InputInvalid,
    NotFound,
)
from tisa.relay import routing, withdrawals
from tisa.relay.context import NodeContext
from tisa.relay.messages import (
    ConsentDenial,
    MessageKind,
    Revocation,
    payload,
)
from tisa.services.accounts import Role, User
from tisa.store import audit, consents, deliveries, products
from tisa.store.consents import ConsentRow, RequestRow
from tisa.store.deliveries import DeliveryRow


class Consents:
    """Grant, revoke and answer consent. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    @property
    def party(self) -> str:
        """This node's party code."""
        return self.ctx.party

    def _check_terms(self, conn: Connection, grant: Consent) -> None:
        """A consent this node may give: for topics in scope, for its own products only, and
        never above the ceiling of the channel the relay would cross.

        Raises:
            InputInvalid: terms this node may not grant.
            NotFound: a product this node does not hold.
        """
        arrangement = self.ctx.arrangement
        for pattern in grant.topics:
            if not any(topic_matches(pattern, topic) for topic in arrangement.scope):
                raise InputInvalid(f"topic {pattern!r} matches nothing in the arrangement's scope")
        channel = arrangement.channel_between(grant.hub, grant.recipient)
        level = grant.max_classification
        if level is not None and channel is not None and level > channel.ceiling:
            raise InputInvalid(
                f"a standing rule up to {level.label} is above the {channel.label} "
                f"channel's ceiling {channel.ceiling.label}"
            )
        if grant.product_id is not None:
            row = products.latest(conn, grant.product_id)
            if row is None:
                raise NotFound(f"no product {grant.product_id}")
            if row.originator != self.party:
                raise InputInvalid(
                    f"{grant.product_id} is {row.originator}'s; only its originator consents"
                )

    def _grant(self, conn: Connection, user: User, terms: ConsentIn) -> dict[str, Any]:
        """Sign a consent and queue it for the hub, in the caller's transaction."""
        arrangement = self.ctx.arrangement
        hub = arrangement.hub
        if self.party == hub:
            raise InputInvalid(f"{hub} is the hub; consent is what spokes give the hub")
        if terms.recipient not in arrangement.parties:
            raise InputInvalid(f"recipient {terms.recipient} is not a party")
        now = self.ctx.clock()
        data = terms.model_dump()
        token_terms = parse(
            ConsentToken,
            {
                **{k: v for k, v in data.items() if v not in (None, [])},
                "type": "consent",
                "id": str(uuid.uuid4()),
                "originator": self.party,
                "hub": hub,
                "issued_at": now,
            },
        )
        grant = token_terms.consent()
        self._check_terms(conn, grant)
        body = consent_to_wire(grant)
        token = self.ctx.trust.sign(Signed.CONSENT, body)
        consents.add(
            conn,
            consents.ConsentRow(
                consent_id=grant.id,
                originator=self.party,
                recipient=grant.recipient,
                product_id=grant.product_id,
                token=token,
                terms=body,
                issued_at=grant.issued_at,
                expires_at=grant.expires_at,
                revoked_at=None,
                revocation=None,
                created_by=user.username,
            ),
        )
        routing.queue_message(
            conn, hub, MessageKind.CONSENT, token, lane=0, now=now, product_id=grant.product_id
        )
        audit.record(
            conn,
            audit.Action.CONSENT_GRANT,
            at=now,
            actor=user.username,
            party=grant.recipient,
            product_id=grant.product_id,
            detail={"consent": grant.id, "terms": body},
        )
        return body

    def grant_consent(self, user: User, terms: ConsentIn) -> dict[str, Any]:
        """Sign a consent (a standing rule or one of this node's products) and send it to
        the hub.

        Raises:
            AccessDenied: not a release officer.
            InputInvalid: terms this node may not grant (see `_check_terms`), or that break
                a consent rule.
            NotFound: a product this node does not hold.
        """
        user.require(Role.RELEASE_OFFICER)
        with self.ctx.db.begin() as conn:
            body = self._grant(conn, user, terms)
        self.ctx.wake()
        return body

    def revoke_consent(self, user: User, consent_id: str) -> None:
        """Revoke a consent this node gave; the hub cancels what is queued under it and
        tells the recipient, which then refuses any relay citing it.

        Raises:
            AccessDenied: not a release officer.
            NotFound: no such consent of this node.
            Conflict: already revoked.
        """
        user.require(Role.RELEASE_OFFICER)
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            row = consents.get(conn, consent_id)
            if row is None or row.originator != self.party:
                raise NotFound(f"no consent {consent_id} of {self.party}")
            if row.revoked_at is not None:
                raise Conflict(f"consent {consent_id} is already revoked")
            revocation = Revocation(
                type="consent-revocation",
                consent_id=consent_id,
                originator=self.party,
                revoked_at=now,
            )
            token = self.ctx.trust.sign(Signed.REVOCATION, payload(revocation))
            withdrawals.revocation(
                self.ctx, conn, revocation, token, recipient=row.recipient, heard_from=None
            )
        self.ctx.wake()

    def answer_request(
        self, user: User, request_id: str, *, grant: bool, reason: str = ""
    ) -> dict[str, Any]:
        """Grant (a consent for that product and recipient) or deny the hub's request, in
        one transaction.

        Raises:
            AccessDenied: not a release officer.
            NotFound: no such request.
            Conflict: already answered.
            InputInvalid: a denial without a reason.
        """
        user.require(Role.RELEASE_OFFICER)
        if not grant and not reason.strip():
            raise InputInvalid("say why consent is denied")
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            request = consents.get_request(conn, request_id)
            if request is None or request.originator != self.party:
                raise NotFound(f"no consent request {request_id}")
            if request.state != "open":
                raise Conflict(f"consent request {request_id} is already {request.state}")
            if grant:
                body = self._grant(
                    conn,
                    user,
                    ConsentIn(recipient=request.recipient, product_id=request.product_id),
                )
                consents.decide_request(conn, request_id, "granted", now, user.username, None)
                answer: dict[str, Any] = {
                    "request": request_id,
                    "state": "granted",
                    "consent": body,
                }
            else:
                self._deny(conn, user, request, reason, now)
                answer = {"request": request_id, "state": "denied"}
        self.ctx.wake()
        return answer

    def _deny(
        self, conn: Connection, user: User, request: RequestRow, reason: str, now: datetime
    ) -> None:
        token = self.ctx.trust.sign(
            Signed.CONSENT_DENIAL,
            payload(
                ConsentDenial(
                    type="consent-denial",
                    request_id=request.request_id,
                    product_id=request.product_id,
                    version=request.version,
                    originator=self.party,
                    recipient=request.recipient,
                    reason=reason,
                    denied_at=now,
                )
            ),
        )
        consents.decide_request(conn, request.request_id, "denied", now, user.username, reason)
        deliveries.set_delivery(
            conn,
            request.product_id,
            request.version,
            request.recipient,
            DeliveryState.DENIED,
            now,
            detail=f"consent denied: {reason}",
        )
        routing.queue_message(
            conn,
            self.ctx.arrangement.hub,
            MessageKind.CONSENT_DENIAL,
            token,
            lane=0,
            now=now,
            product_id=request.product_id,
            version=request.version,
        )
        audit.record(
            conn,
            audit.Action.CONSENT_DENY,
            at=now,
            actor=user.username,
            party=request.recipient,
            product_id=request.product_id,
            version=request.version,
            detail={"reason": reason},
        )

    def consents(self, user: User) -> list[ConsentRow]:
        """Consents this node holds (given, or at the hub received)."""
        user.require(Role.RELEASE_OFFICER, Role.ADMIN, Role.AUDITOR)
        with self.ctx.db.read() as conn:
            return consents.for_originator(conn)

    def let_through(self, user: User) -> dict[str, list[DeliveryRow]]:
        """What each consent let through: deliveries whose signed receipt names it."""
        user.require(Role.RELEASE_OFFICER, Role.ADMIN, Role.AUDITOR)
        with self.ctx.db.read() as conn:
            rows = deliveries.receipted(conn)
        found: dict[str, list[DeliveryRow]] = {}
        for row in rows:
            assert row.receipt is not None
            # The receipt was verified against the recipient's pinned key when it was stored.
            consent = jws.peek(row.receipt).payload.get("consent")
            if isinstance(consent, str):
                found.setdefault(consent, []).append(row)
        return found

    def consent_requests(self, user: User, state: str | None = None) -> list[RequestRow]:
        """Consent requests (from the hub, at a spoke; filed, at the hub)."""
        user.require(Role.RELEASE_OFFICER, Role.ADMIN, Role.AUDITOR)
        with self.ctx.db.read() as conn:
            return consents.requests(conn, state)
