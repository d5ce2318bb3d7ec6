"""Reading: every opening of a stored product, verified again and decided by the gate now;
a product a reader may not see is not found, exactly as one that does not exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tisa.attachments import previews
from tisa.attachments.downloads import read_whole
from tisa.attachments.uploads import workspace
from tisa.domain.model import Attachment, AttachmentKind, Product
from tisa.domain.policy import FETCH, READ, AllOf
from tisa.domain.questions import Opening
from tisa.errors import (
    Damaged,
    NotFound,
    TisaError,
)
from tisa.relay import routing
from tisa.relay.context import NodeContext
from tisa.relay.provenance import Provenance, verify_stored
from tisa.services.accounts import User
from tisa.store import attachments, audit, deliveries, products, reads
from tisa.store.deliveries import DeliveryRow
from tisa.store.disk import writing
from tisa.store.products import ProductRow, Unreadable

_log = logging.getLogger("tisa.services.reading")


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


class Reading:
    """Open, list, download and follow the delivery of products. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    @property
    def party(self) -> str:
        """This node's party code."""
        return self.ctx.party

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

    def shown(self, user: User, rows: list[ProductRow], unreadable: list[Unreadable]) -> Shown:
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
        return self.shown(user, found.rows, found.unreadable)

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
            rows = deliveries.deliveries_of(conn, held.row.product_id)
        return [d for d in rows if d.version in seen]
