"""JSON views of products, deliveries and consents, in the reader's national scheme."""

from __future__ import annotations

from typing import Any

from tisa.audit.chain import Entry
from tisa.domain.arrangement import Arrangement
from tisa.domain.wire import attachment_to_wire, iso, observation_to_wire
from tisa.relay.provenance import Provenance
from tisa.services.accounts import User
from tisa.services.reading import Held, Reading
from tisa.store.attachments import UploadRow
from tisa.store.consents import ConsentRow, RequestRow
from tisa.store.deliveries import DeliveryRow


def _when(value: Any) -> str | None:
    return None if value is None else iso(value)


def product_view(
    held: Held, arrangement: Arrangement, reader_party: str, provenance: Provenance | None
) -> dict[str, Any]:
    """A product as a reader at `reader_party` sees it: banner in their scheme, originator named."""
    product, row = held.product, held.row
    m = product.markings
    term = arrangement.term(reader_party, m.classification)
    return {
        "id": product.id,
        "version": product.version,
        "originator": product.originator,
        "originator_name": arrangement.party(product.originator).name,
        "state": row.state,
        "banner": m.banner(term, reader_party),
        "classification": {
            "level": m.classification.name,
            "term": term,
            "originator_term": arrangement.term(product.originator, m.classification),
        },
        "rel_to": list(m.rel_to_line.removeprefix("REL TO ").split(", ")),
        "orcon": m.orcon,
        "precedence": m.precedence.value,
        "topics": sorted(product.topics),
        "source_reliability": product.source_reliability.value,
        "information_credibility": product.information_credibility.value,
        "title": product.title,
        "text": product.text,
        "observations": [observation_to_wire(o) for o in product.observations],
        "attachments": [attachment_to_wire(a) for a in product.attachments],
        "author": product.author,
        "created_at": iso(product.created_at),
        "released_at": _when(row.released_at),
        "received_from": row.received_from,
        "received_at": _when(row.received_at),
        "recalled": (
            None
            if row.recalled_at is None
            else {"at": iso(row.recalled_at), "reason": row.recall_reason}
        ),
        "digest": row.digest,
        "provenance": None if provenance is None else provenance.as_dict(),
    }


def product_detail(
    reading: Reading, user: User, product_id: str, version: int | None
) -> tuple[Held, dict[str, Any]]:
    """A product as its page and the API show it: the view, its versions, every version's
    deliveries, and (at the originating node) what scrubbing removed. Opening it is audited
    as one view and marks it read.

    Raises:
        NotFound, Damaged: as `Reading.read`.
    """
    ctx = reading.ctx
    held = reading.read(user, product_id, version)
    reading.mark_read(user, held)
    view = product_view(held, ctx.arrangement, ctx.party, held.provenance)
    view["versions"] = [h.product.version for h in reading.versions(user, product_id)]
    view["deliveries"] = [delivery_view(d) for d in reading.deliveries_of(user, held)]
    reports = reading.scrub_reports(held.product)
    for item in view["attachments"]:
        item["removed"] = reports.get(item["digest"])
    return held, view


def summary_view(held: Held, arrangement: Arrangement, reader_party: str) -> dict[str, Any]:
    """One line of an inbox."""
    product, row = held.product, held.row
    m = product.markings
    return {
        "id": product.id,
        "version": product.version,
        "originator": product.originator,
        "state": row.state,
        "precedence": m.precedence.value,
        "banner": m.banner(arrangement.term(reader_party, m.classification), reader_party),
        "title": product.title,
        "topics": sorted(product.topics),
        "created_at": iso(product.created_at),
        "received_at": _when(row.received_at),
        "recalled": row.recalled_at is not None,
    }


def delivery_view(d: DeliveryRow) -> dict[str, Any]:
    """Where one version stands for one party."""
    return {
        "version": d.version,
        "party": d.party,
        "state": d.state,
        "detail": d.detail,
        "via": d.via,
        "delivered_at": _when(d.delivered_at),
        "updated_at": iso(d.updated_at),
        "receipt": d.receipt,
    }


def consent_view(c: ConsentRow) -> dict[str, Any]:
    """A consent and whether it was revoked."""
    return {
        "id": c.consent_id,
        "originator": c.originator,
        "recipient": c.recipient,
        "terms": c.terms,
        "issued_at": iso(c.issued_at),
        "expires_at": _when(c.expires_at),
        "revoked_at": _when(c.revoked_at),
        "created_by": c.created_by,
    }


def request_view(r: RequestRow) -> dict[str, Any]:
    """A consent request."""
    return {
        "id": r.request_id,
        "product_id": r.product_id,
        "version": r.version,
        "originator": r.originator,
        "recipient": r.recipient,
        "state": r.state,
        "requested_at": iso(r.requested_at),
        "decided_at": _when(r.decided_at),
        "decided_by": r.decided_by,
        "reason": r.reason,
    }


def entry_view(e: Entry) -> dict[str, Any]:
    """One audit entry, with its place in the chain."""
    return {
        "seq": e.seq,
        "at": iso(e.at),
        "actor": e.actor,
        "action": e.action,
        "party": e.party,
        "product_id": e.product_id,
        "version": e.version,
        "detail": dict(e.detail),
        "prev_hash": e.prev_hash,
        "entry_hash": e.entry_hash,
    }


def upload_view(u: UploadRow) -> dict[str, Any]:
    """An upload: what will be signed and sent, and what scrubbing removed."""
    return {
        "digest": u.digest,
        "name": u.name,
        "media_type": u.media_type,
        "kind": u.kind,
        "size": u.size,
        "removed": list(u.removed),
        "preview": u.preview_digest is not None,
        "uploaded_by": u.uploaded_by,
        "uploaded_at": iso(u.uploaded_at),
    }
