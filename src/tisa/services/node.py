"""A national node's operations for its users: compose, release, consent, recall, read.

Each operation is one transaction: a release writes the signed manifest, the outbox entries
and the audit entry together, so nothing released is ever lost and nothing is sent that was
not released.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from tisa.attachments import previews
from tisa.attachments.downloads import read_whole
from tisa.attachments.uploads import workspace
from tisa.crypto import jws
from tisa.crypto.jws import payload_digest
from tisa.crypto.trust import Signed
from tisa.domain.model import (
    Attachment,
    AttachmentKind,
    Consent,
    DeliveryState,
    Product,
    topic_matches,
)
from tisa.domain.policy import COMPOSE, FETCH, QUEUE, READ, AllOf, Movement, Opening
from tisa.domain.wire import (
    ConsentIn,
    ConsentToken,
    DraftIn,
    consent_to_wire,
    manifest_to_wire,
    parse,
    to_product,
)
from tisa.errors import (
    AccessDenied,
    Conflict,
    Damaged,
    InputInvalid,
    NotFound,
    PolicyDenied,
    TisaError,
)
from tisa.node.context import NodeContext
from tisa.node.disk import writing
from tisa.relay import routing, withdrawals
from tisa.relay.messages import (
    ConsentDenial,
    MessageKind,
    Recall,
    Revocation,
    payload,
)
from tisa.relay.provenance import Provenance, verify_stored
from tisa.services.accounts import Role, User
from tisa.store import attachments, audit, consents, network, products, reads, review
from tisa.store.consents import ConsentRow, RequestRow
from tisa.store.products import DeliveryRow, ProductRow, Unreadable
from tisa.store.review import SentBack

WRITERS = (Role.ANALYST, Role.RELEASE_OFFICER)
_log = logging.getLogger("tisa.services.node")


@dataclass(frozen=True)
class Held:
    """A product as a user may see it: the stored row, the product as verified now, and
    what its signatures prove (None for a draft)."""

    row: ProductRow
    product: Product
    provenance: Provenance | None = None


@dataclass(frozen=True)
class Shown:
    """What a listing shows a user, and how many stored versions it left out because they
    could not be read or no longer hold together (each is logged by name)."""

    held: list[Held]
    withheld: int = 0


class Node:
    """The operations users of one node perform. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    @property
    def party(self) -> str:
        """This node's party code."""
        return self.ctx.party

    # -- composing ---------------------------------------------------------------------------

    def _check_compose(self, conn: Connection, product: Product) -> None:
        """What the gate's COMPOSE policy refuses (scope, parties in REL TO), at compose
        time, so the analyst hears it at once."""
        move = Movement(product, self.party, self.party)
        self.ctx.gate.move(conn, COMPOSE, move).raise_if_denied()

    def create(self, user: User, draft: DraftIn) -> Product:
        """A new product (version 1) as a draft awaiting release.

        Raises:
            AccessDenied: the user may not write products.
            InputInvalid: the content breaks a marking or model rule.
            PolicyDenied: a topic is outside the arrangement's scope.
        """
        user.require(*WRITERS)
        now = self.ctx.clock()
        product = self._new_product(user, draft, now)
        self._check_readable(user, product)
        with self.ctx.db.begin() as conn:
            self._check_compose(conn, product)
            self._insert_draft(conn, product)
            audit.record(
                conn,
                audit.Action.CREATE,
                at=now,
                actor=user.username,
                product_id=product.id,
                version=1,
            )
        return product

    def amend(self, user: User, product_id: str, draft: DraftIn) -> Product:
        """A new version of this node's own released product, as a draft.

        Raises:
            AccessDenied, InputInvalid, PolicyDenied: as for `create`.
            NotFound: no such product here.
            Conflict: not this node's product, or its latest version is still a draft.
        """
        user.require(*WRITERS)
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            latest = products.latest_version(conn, product_id)
            if latest is None:
                raise NotFound(f"no product {product_id}")
            row = products.get(conn, product_id, latest)
            assert row is not None
            if row.originator != self.party:
                raise Conflict(f"{product_id} is {row.originator}'s; only the originator amends")
            if row.state == "draft":
                raise Conflict(f"version {latest} is still a draft; release or replace it first")
            product = to_product(
                draft,
                id=product_id,
                version=latest + 1,
                originator=self.party,
                author=user.username,
                created_at=now,
                attachments=self._uploads(draft.attachments),
            )
            self._check_compose(conn, product)
            self._check_readable(user, product)
            self._insert_draft(conn, product)
            audit.record(
                conn,
                audit.Action.AMEND,
                at=now,
                actor=user.username,
                product_id=product_id,
                version=product.version,
            )
        return product

    def _own_draft(self, conn: Connection, product_id: str, version: int) -> ProductRow:
        """A draft of this node, still unsigned.

        Raises:
            NotFound: no such draft of this node. Conflict: that version was released.
        """
        row = products.get(conn, product_id, version)
        if row is None or row.originator != self.party:
            raise NotFound(f"no draft {product_id} v{version} of {self.party}")
        if row.state != "draft":
            raise Conflict(f"{product_id} v{version} is already {row.state}")
        return row

    def _new_product(self, user: User, draft: DraftIn, now: datetime) -> Product:
        """Version 1 of a new product of this node, as `user` wrote it.

        Raises:
            InputInvalid: the content breaks a marking or model rule.
            NotFound: an attachment that was not uploaded here.
        """
        return to_product(
            draft,
            id=str(uuid.uuid4()),
            version=1,
            originator=self.party,
            author=user.username,
            created_at=now,
            attachments=self._uploads(draft.attachments),
        )

    def check(self, user: User, draft: DraftIn) -> list[str]:
        """Everything that would stop this draft from being stored or released, as the
        analyst should hear it while still writing (nothing is stored).

        Raises:
            AccessDenied: the user may not write products.
        """
        user.require(*WRITERS)
        now = self.ctx.clock()
        try:
            product = self._new_product(user, draft, now)
        except (InputInvalid, NotFound) as exc:
            return [exc.reason]
        problems = list(self.ctx.gate.opens(READ, user.reader, product, recalled=False).texts)
        with self.ctx.db.read() as conn:
            problems.extend(self._release_refusals(conn, product)[2])
        # The scope rule is one of the release rules, so it is already among the refusals.
        return list(dict.fromkeys(problems))

    def revise(self, user: User, product_id: str, version: int, draft: DraftIn) -> Product:
        """Rewrite a draft in place (same id and version): nothing was signed yet. A draft
        sent back returns to the release queue.

        Raises:
            AccessDenied, InputInvalid, PolicyDenied: as for `create`.
            NotFound: no such draft of this node.
            Conflict: that version is no longer a draft.
        """
        user.require(*WRITERS)
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            row = self._own_draft(conn, product_id, version)
            product = to_product(
                draft,
                id=product_id,
                version=version,
                originator=self.party,
                author=row.author,
                created_at=row.created_at,
                attachments=self._uploads(draft.attachments),
            )
            self._check_compose(conn, product)
            self._check_readable(user, product)
            products.update_product(
                conn,
                product_id,
                version,
                classification=int(product.classification),
                precedence=product.precedence.value,
                title=product.title,
                topics=sorted(product.topics),
                body=manifest_to_wire(product, self.ctx.arrangement.digest),
            )
            attachments.unlink(conn, product_id, version)
            for attachment in product.attachments:
                upload = attachments.get_upload(conn, attachment.digest)
                preview = None if upload is None else upload.preview_digest
                attachments.link(conn, product_id, version, attachment.digest, preview)
            review.clear(conn, product_id, version)
            audit.record(
                conn,
                audit.Action.REVISE,
                at=now,
                actor=user.username,
                product_id=product_id,
                version=version,
            )
        return product

    def send_back(self, user: User, product_id: str, version: int, reason: str) -> None:
        """A release officer returns a draft to its author with a reason; nothing is sent.

        Raises:
            AccessDenied: not a release officer.
            NotFound: no such draft. Conflict: no longer a draft.
        """
        user.require(Role.RELEASE_OFFICER)
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            self._own_draft(conn, product_id, version)
            review.send_back(conn, product_id, version, reason, user.username, now)
            audit.record(
                conn,
                audit.Action.SEND_BACK,
                at=now,
                actor=user.username,
                product_id=product_id,
                version=version,
                detail={"reason": reason},
            )

    def sent_back(self, product_id: str, version: int) -> SentBack | None:
        """Why this draft went back to its author, if it did."""
        with self.ctx.db.read() as conn:
            return review.sent_back_of(conn, product_id, version)

    def drafts(self, user: User) -> list[tuple[Held, SentBack | None]]:
        """This node's drafts the user may see, oldest first, each with why it was sent
        back (None: waiting for a release officer)."""
        with self.ctx.db.read() as conn:
            found = products.readable_listing(conn, states=["draft"], limit=1000)
            returned = review.all_sent_back(conn)
        held = self._shown(user, found.rows, found.unreadable).held
        held.sort(key=lambda h: h.row.created_at)
        return [(h, returned.get((h.row.product_id, h.row.version))) for h in held]

    def _check_readable(self, user: User, product: Product) -> None:
        """An author may not write what they may not read (clearance, need-to-know)."""
        decision = self.ctx.gate.opens(READ, user.reader, product, recalled=False)
        if not decision.allowed:
            raise AccessDenied("; ".join(decision.texts))

    def _uploads(self, digests: list[str]) -> tuple[Attachment, ...]:
        """The attachments a draft names, from this node's uploads.

        Raises:
            NotFound: a digest that was not uploaded here.
        """
        found = []
        with self.ctx.db.read() as conn:
            for digest in digests:
                row = attachments.get_upload(conn, digest)
                if row is None:
                    raise NotFound(f"no upload {digest} at {self.party}; upload the file first")
                found.append(
                    Attachment(
                        row.digest, row.size, row.media_type, AttachmentKind(row.kind), row.name
                    )
                )
        return tuple(found)

    def _insert_draft(self, conn: Connection, product: Product) -> None:
        products.insert_product(
            conn,
            product_id=product.id,
            version=product.version,
            originator=product.originator,
            classification=int(product.classification),
            precedence=product.precedence.value,
            title=product.title,
            topics=sorted(product.topics),
            state="draft",
            body=manifest_to_wire(product, self.ctx.arrangement.digest),
            author=product.author,
            created_at=product.created_at,
        )
        for attachment in product.attachments:
            upload = attachments.get_upload(conn, attachment.digest)
            preview = None if upload is None else upload.preview_digest
            attachments.link(conn, product.id, product.version, attachment.digest, preview)

    # -- releasing ---------------------------------------------------------------------------

    def _release_refusals(
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

    def release(self, user: User, product_id: str, version: int) -> dict[str, str]:
        """Sign a draft and queue it for every channel peer its REL TO names.

        Returns each recipient party and its state ('queued', or 'via USA' for a party the
        hub relays to).

        Raises:
            AccessDenied: the user is not a release officer.
            NotFound: no such draft.
            Conflict: already released.
            PolicyDenied: a rule of release refuses a named recipient; nothing is released.
        """
        user.require(Role.RELEASE_OFFICER)
        now = self.ctx.clock()
        arrangement = self.ctx.arrangement
        try:
            with self.ctx.db.begin() as conn:
                row = self._own_draft(conn, product_id, version)
                product = routing.stored_product(row)
                peers, others, reasons = self._release_refusals(conn, product)
                if reasons:
                    raise PolicyDenied(tuple(reasons))
                token = self.ctx.trust.sign(Signed.PRODUCT, row.body)
                digest = payload_digest(token)
                products.update_product(
                    conn,
                    product_id,
                    version,
                    state="released",
                    manifest=token,
                    digest=digest,
                    released_at=now,
                    released_by=user.username,
                )
                outcome: dict[str, str] = {}
                for peer in peers:
                    routing.queue_envelope(self.ctx, conn, product, token, peer, now)
                    outcome[peer] = "queued"
                for party in others:
                    if party not in outcome and party in arrangement.parties:
                        products.set_delivery(
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
            if row is None or row.originator != self.party or row.state != "released":
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

    # -- consent -----------------------------------------------------------------------------

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
        products.set_delivery(
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

    # -- reading -----------------------------------------------------------------------------

    def _verified(self, row: ProductRow) -> tuple[Product, Provenance | None]:
        """The product of a stored row, its signatures verified again now (drafts are
        unsigned and only parsed).

        Raises:
            Damaged: the row no longer holds together (see `verify_stored`).
        """
        if row.manifest is None:
            return routing.stored_product(row), None
        verified = verify_stored(self.ctx.trust, row, here=self.party, blobs=self.ctx.blobs)
        return verified.product, verified.provenance

    def _open(self, user: User, row: ProductRow, policy: AllOf[Opening]) -> Held | None:
        """The stored version if the gate lets `user` open it under `policy`, else None.

        Raises:
            Damaged: the row no longer holds together.
        """
        product, provenance = self._verified(row)
        decision = self.ctx.gate.opens(
            policy, user.reader, product, recalled=row.recalled_at is not None
        )
        return Held(row, product, provenance) if decision.allowed else None

    def check_stored(self, row: ProductRow) -> None:
        """Verify a stored version as every opening does, for `tisa check`: a signed one
        against every signature and its attachments, a draft by parsing it.

        Raises:
            Damaged: the row no longer holds together.
        """
        try:
            self._verified(row)
        except Damaged:
            raise
        except (TisaError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, TisaError) else str(exc)
            raise Damaged(f"{row.product_id} v{row.version}: {reason}") from exc

    def _shown(self, user: User, rows: list[ProductRow], unreadable: list[Unreadable]) -> Shown:
        """The rows `user` may see; rows that cannot be read or no longer hold together are
        left out, counted and logged by name (for the administrator: `tisa check`)."""
        for lost in unreadable:
            _log.error("not shown: %s; run `tisa check`", lost)
        held: list[Held] = []
        withheld = len(unreadable)
        for row in rows:
            try:
                shown = self._open(user, row, READ)
            except Damaged as exc:
                _log.error("not shown: %s", exc.reason)
                withheld += 1
                continue
            if shown is not None:
                held.append(shown)
        return Shown(held, withheld)

    def visible(self, user: User, row: ProductRow) -> Held | None:
        """The stored version if `user` may see it (the gate's READ policy), else None; a row
        that no longer holds together is left out and logged. Not audited as a view."""
        try:
            return self._open(user, row, READ)
        except Damaged as exc:
            _log.error("not shown: %s", exc.reason)
            return None

    def held(self, user: User, product_id: str, version: int | None = None) -> Held | None:
        """A stored version (the latest by default) if `user` may see it, else None; for
        summaries and notices, so not audited as a view (opening the product is)."""
        with self.ctx.db.read() as conn:
            row = (
                products.latest(conn, product_id)
                if version is None
                else products.get(conn, product_id, version)
            )
        return None if row is None else self.visible(user, row)

    def list_products(
        self,
        user: User,
        *,
        state: str | None = None,
        originator: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[Held]:
        """Products this node holds that `user` may see, newest first (the gate's READ
        policy), optionally of one originator and created within [since, until); what cannot
        be read is left out (see `listing`)."""
        return self.listing(
            user, state=state, originator=originator, since=since, until=until, limit=limit
        ).held

    def listing(
        self,
        user: User,
        *,
        state: str | None = None,
        originator: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> Shown:
        """`list_products`, with how many stored versions were left out because their rows
        cannot be read (a damaged page) or no longer hold together; one bad page never takes
        the whole listing with it."""
        with self.ctx.db.read() as conn:
            found = products.readable_listing(
                conn,
                states=[state] if state else None,
                originator=originator,
                since=since,
                before=until,
                limit=limit,
            )
        return self._shown(user, found.rows, found.unreadable)

    def read(
        self,
        user: User,
        product_id: str,
        version: int | None = None,
        *,
        policy: AllOf[Opening] = READ,
    ) -> Held:
        """Open one product version (the latest by default), if the gate lets `user` open it
        under `policy`; every attempt is audited as a view. A version the user may not see
        is not found, exactly as one that does not exist.

        Raises:
            NotFound: not held, or the user may not open it.
            Damaged: held, but it no longer holds together, or its row cannot be read.
        """
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            number = version if version is not None else products.latest_version(conn, product_id)
            row = None if number is None else products.get(conn, product_id, number)
            if row is None:
                raise NotFound(f"no product {product_id}" + (f" v{version}" if version else ""))
            product, provenance = self._verified(row)
            decision = self.ctx.gate.opens(
                policy, user.reader, product, recalled=row.recalled_at is not None
            )
            audit.record(
                conn,
                audit.Action.VIEW,
                at=now,
                actor=user.username,
                product_id=product_id,
                version=row.version,
                detail={"allowed": decision.allowed, "reasons": list(decision.texts)},
            )
        if not decision.allowed:
            raise NotFound(f"no product {product_id}" + (f" v{version}" if version else ""))
        return Held(row, product, provenance)

    def mark_read(self, user: User, held: Held) -> None:
        """Note that the user opened this version (the inbox shows it as read)."""
        with self.ctx.db.begin() as conn:
            reads.mark(conn, user.username, held.row.product_id, held.row.version, self.ctx.clock())

    def opened(self, user: User, held: list[Held]) -> set[tuple[str, int]]:
        """Which of these versions the user has opened."""
        with self.ctx.db.read() as conn:
            return reads.opened(
                conn, user.username, [(h.row.product_id, h.row.version) for h in held]
            )

    def _attachment(self, user: User, product_id: str, version: int, digest: str) -> Attachment:
        """An attachment the gate's FETCH policy lets the user open (rule 7, and not withdrawn
        by a recall).

        Raises:
            NotFound: no such product, version or attachment, the user may not see it, or
                it was recalled.
            Damaged: the product no longer holds together, or the blob is missing.
        """
        held = self.read(user, product_id, version, policy=FETCH)
        match = next((a for a in held.product.attachments if a.digest == digest), None)
        if match is None:
            raise NotFound(f"{product_id} v{version} has no attachment {digest}")
        return match

    def attachment(self, user: User, product_id: str, version: int, digest: str) -> Attachment:
        """An attachment the user may download; the download is audited.

        Raises:
            NotFound: no such product, version or attachment, the user may not see it, or
                it was recalled.
            Damaged: the product no longer holds together, or the blob is missing.
        """
        match = self._attachment(user, product_id, version, digest)
        with self.ctx.db.begin() as conn:
            audit.record(
                conn,
                audit.Action.DOWNLOAD,
                at=self.ctx.clock(),
                actor=user.username,
                product_id=product_id,
                version=version,
                detail={"digest": digest, "name": match.name},
            )
        return match

    def preview(self, user: User, product_id: str, version: int, digest: str, work: Path) -> str:
        """The digest of a photo attachment's preview, made from the scrubbed photo on first
        asking.

        Raises:
            NotFound: as for `attachment`, or the attachment is not a photo.
            AccessDenied: the user may not see the product.
            Damaged: the photo's stored bytes do not authenticate.
            DiskFull: making the preview would take the reserve, or the disk is full.
        """
        match = self._attachment(user, product_id, version, digest)
        if match.kind is not AttachmentKind.PHOTO:
            raise NotFound(f"{match.name} is not a photo; it has no preview")
        blobs = self.ctx.blobs
        with self.ctx.db.read() as conn:
            known = attachments.preview_of(conn, product_id, version, digest)
        if known is not None and blobs.has(known):
            return known
        # The decrypted photo is written out before the preview is made: claimed first.
        blobs.claim("preview", match.size)
        with writing("preview", "a preview could not be made"), workspace(work) as scratch:
            photo = scratch / "photo"
            with photo.open("wb") as handle:
                for chunk in read_whole(blobs, digest, f"{product_id} v{version}"):
                    handle.write(chunk)
            thumb = scratch / "preview.jpg"
            previews.thumbnail(photo, thumb)
            with blobs.writer(max_size=match.size + 1024 * 1024) as writer:
                writer.write(thumb.read_bytes())
                made = writer.commit()
        with self.ctx.db.begin() as conn:
            attachments.set_preview(conn, product_id, version, digest, made.digest)
        return made.digest

    def scrub_reports(self, product: Product) -> dict[str, list[str]]:
        """What scrubbing removed from each attachment, where this node uploaded it."""
        with self.ctx.db.read() as conn:
            rows = [attachments.get_upload(conn, a.digest) for a in product.attachments]
        return {row.digest: list(row.removed) for row in rows if row is not None}

    def versions(self, user: User, product_id: str) -> list[Held]:
        """Every version held that `user` may see, oldest first.

        Raises:
            NotFound: no version held that the user may see.
        """
        with self.ctx.db.read() as conn:
            rows = products.versions(conn, product_id)
        found = [held for row in rows if (held := self.visible(user, row)) is not None]
        if not found:
            raise NotFound(f"no product {product_id}")
        return found

    def deliveries(self, user: User, product_id: str) -> list[DeliveryRow]:
        """Delivery state per party for each version the user may see.

        Raises:
            NotFound: not held, or the user may not see it.
        """
        return self.deliveries_of(user, self.read(user, product_id))

    def deliveries_of(self, user: User, held: Held) -> list[DeliveryRow]:
        """Delivery state per party for each version of a product already read that the
        user may see (no second audited view: one page view is one view)."""
        seen = {h.row.version for h in self.versions(user, held.row.product_id)}
        with self.ctx.db.read() as conn:
            rows = products.deliveries_of(conn, held.row.product_id)
        return [d for d in rows if d.version in seen]

    def consents(self, user: User) -> list[ConsentRow]:
        """Consents this node holds (given, or at the hub received)."""
        user.require(Role.RELEASE_OFFICER, Role.ADMIN, Role.AUDITOR)
        with self.ctx.db.read() as conn:
            return consents.for_originator(conn)

    def let_through(self, user: User) -> dict[str, list[DeliveryRow]]:
        """What each consent let through: deliveries whose signed receipt names it."""
        user.require(Role.RELEASE_OFFICER, Role.ADMIN, Role.AUDITOR)
        with self.ctx.db.read() as conn:
            rows = products.receipted(conn)
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

    # -- channels ----------------------------------------------------------------------------

    def set_channel(self, user: User, channel_id: str, *, suspended: bool) -> None:
        """Suspend or resume a channel at this node: nothing moves over it, queues hold.

        Raises:
            AccessDenied: not an admin.
            InputInvalid: no such channel, or not one of this node's.
        """
        user.require(Role.ADMIN)
        channel = self.ctx.arrangement.channel(channel_id)
        if self.party not in channel.parties:
            raise InputInvalid(f"channel {channel.label} does not join {self.party}")
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            network.set_suspended(conn, channel.id, suspended, now, user.username)
            audit.record(
                conn,
                audit.Action.CHANNEL_SUSPEND if suspended else audit.Action.CHANNEL_RESUME,
                at=now,
                actor=user.username,
                party=channel.other(self.party),
                detail={"channel": channel.id},
            )
        self.ctx.wake()
