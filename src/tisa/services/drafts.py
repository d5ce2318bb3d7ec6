"""Drafting: what an analyst writes, checks, amends and revises, and what a release officer
sends back. A draft is unsigned and stays at its originator until it is released."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from tisa.domain.model import Attachment, AttachmentKind, Product
from tisa.domain.policy import COMPOSE, READ
from tisa.domain.questions import Movement
from tisa.domain.states import ProductState
from tisa.domain.wire import (
    DraftIn,
    manifest_to_wire,
    to_product,
)
from tisa.errors import (
    AccessDenied,
    Conflict,
    InputInvalid,
    NotFound,
)
from tisa.relay.context import NodeContext
from tisa.services.accounts import Role, User
from tisa.store import attachments, audit, products, review
from tisa.store.products import ProductRow
from tisa.store.review import SentBack

if TYPE_CHECKING:
    from tisa.services.reading import Held, Reading
    from tisa.services.releases import Releases


WRITERS = (Role.ANALYST, Role.RELEASE_OFFICER)


def own_draft(conn: Connection, party: str, product_id: str, version: int) -> ProductRow:
    """A draft of this node, still unsigned.

    Raises:
        NotFound: no such draft of this node. Conflict: that version was released.
    """
    row = products.get(conn, product_id, version)
    if row is None or row.originator != party:
        raise NotFound(f"no draft {product_id} v{version} of {party}")
    if row.state != ProductState.DRAFT:
        raise Conflict(f"{product_id} v{version} is already {row.state}")
    return row


class Drafts:
    """Compose, check, amend, revise and send back drafts. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext, *, reading: Reading, releases: Releases) -> None:
        self.ctx = ctx
        self._reading = reading
        self._releases = releases

    @property
    def party(self) -> str:
        """This node's party code."""
        return self.ctx.party

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
            if row.state == ProductState.DRAFT:
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
            problems.extend(self._releases.refusals(conn, product)[2])
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
            row = own_draft(conn, self.party, product_id, version)
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
            revised = products.revise_draft(
                conn,
                product_id,
                version,
                classification=int(product.classification),
                precedence=product.precedence.value,
                title=product.title,
                topics=sorted(product.topics),
                body=manifest_to_wire(product, self.ctx.arrangement.digest),
            )
            if not revised:
                raise Conflict(f"{product_id} v{version} is no longer a draft")
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
            own_draft(conn, self.party, product_id, version)
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
            found = products.readable_listing(conn, states=[ProductState.DRAFT], limit=1000)
            returned = review.all_sent_back(conn)
        held = self._reading.shown(user, found.rows, found.unreadable).held
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
            products.NewVersion(
                product_id=product.id,
                version=product.version,
                originator=product.originator,
                classification=int(product.classification),
                precedence=product.precedence.value,
                title=product.title,
                topics=sorted(product.topics),
                state=ProductState.DRAFT,
                body=manifest_to_wire(product, self.ctx.arrangement.digest),
                author=product.author,
                created_at=product.created_at,
            ),
        )
        for attachment in product.attachments:
            upload = attachments.get_upload(conn, attachment.digest)
            preview = None if upload is None else upload.preview_digest
            attachments.link(conn, product.id, product.version, attachment.digest, preview)
