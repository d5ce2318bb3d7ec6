"""Uploads at this node, and which product versions name which blobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from tisa.store.tables import product_attachments, products, uploads


@dataclass(frozen=True)
class UploadRow:
    """A file uploaded here: the scrubbed blob, what scrubbing removed, the local original."""

    digest: str
    name: str
    media_type: str
    kind: str
    size: int
    removed: list[str]
    original_digest: str
    preview_digest: str | None
    uploaded_by: str
    uploaded_at: datetime


def add_upload(conn: Connection, row: UploadRow) -> None:
    """Record an upload (a second upload of the same scrubbed bytes keeps the first)."""
    if get_upload(conn, row.digest) is None:
        conn.execute(insert(uploads), row.__dict__)


def get_upload(conn: Connection, digest: str) -> UploadRow | None:
    """One upload, or None."""
    r = conn.execute(select(uploads).where(uploads.c.digest == digest)).first()
    if r is None:
        return None
    return UploadRow(**{f: getattr(r, f) for f in UploadRow.__dataclass_fields__})


def link(conn: Connection, product_id: str, version: int, digest: str, preview: str | None) -> None:
    """Note that a product version names a blob."""
    exists = conn.execute(
        select(product_attachments.c.digest).where(
            product_attachments.c.product_id == product_id,
            product_attachments.c.version == version,
            product_attachments.c.digest == digest,
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(product_attachments).values(
                product_id=product_id, version=version, digest=digest, preview_digest=preview
            )
        )


def unlink(conn: Connection, product_id: str, version: int) -> None:
    """Forget which blobs a draft names (it is being rewritten)."""
    conn.execute(
        delete(product_attachments).where(
            product_attachments.c.product_id == product_id,
            product_attachments.c.version == version,
        )
    )


def set_preview(conn: Connection, product_id: str, version: int, digest: str, preview: str) -> None:
    """Remember the preview made for an attachment."""
    conn.execute(
        update(product_attachments)
        .where(
            product_attachments.c.product_id == product_id,
            product_attachments.c.version == version,
            product_attachments.c.digest == digest,
        )
        .values(preview_digest=preview)
    )


def preview_of(conn: Connection, product_id: str, version: int, digest: str) -> str | None:
    """The preview blob of an attachment of a product version, if any."""
    r = conn.execute(
        select(product_attachments.c.preview_digest).where(
            product_attachments.c.product_id == product_id,
            product_attachments.c.version == version,
            product_attachments.c.digest == digest,
        )
    ).first()
    return None if r is None else r.preview_digest


def live_users_of(conn: Connection, digest: str) -> int:
    """How many product versions that are not recalled name the blob."""
    joined = product_attachments.join(
        products,
        (products.c.product_id == product_attachments.c.product_id)
        & (products.c.version == product_attachments.c.version),
    )
    return int(
        conn.execute(
            select(func.count())
            .select_from(joined)
            .where(product_attachments.c.digest == digest, products.c.recalled_at.is_(None))
        ).scalar_one()
    )


def named_by(conn: Connection, product_id: str, version: int) -> list[dict[str, Any]]:
    """The blobs a product version names, with previews."""
    rows = conn.execute(
        select(product_attachments).where(
            product_attachments.c.product_id == product_id,
            product_attachments.c.version == version,
        )
    )
    return [{"digest": r.digest, "preview": r.preview_digest} for r in rows]


def named_blobs(conn: Connection) -> dict[str, list[str]]:
    """Every blob this node's rows say it holds, each with what names it: the attachments and
    previews of versions not recalled (a recall withdraws them), and every upload's scrubbed
    copy, original and preview (kept at the originator)."""
    named: dict[str, list[str]] = {}

    def note(digest: str | None, what: str) -> None:
        if digest:
            named.setdefault(digest, []).append(what)

    joined = product_attachments.join(
        products,
        (products.c.product_id == product_attachments.c.product_id)
        & (products.c.version == product_attachments.c.version),
    )
    rows = conn.execute(
        select(product_attachments)
        .select_from(joined)
        .where(products.c.recalled_at.is_(None))
        .order_by(product_attachments.c.product_id, product_attachments.c.version)
    )
    for r in rows:
        note(r.digest, f"product {r.product_id} v{r.version}")
        note(r.preview_digest, f"preview in product {r.product_id} v{r.version}")
    for r in conn.execute(select(uploads).order_by(uploads.c.uploaded_at)):
        note(r.digest, f"upload {r.name}")
        note(r.original_digest, f"original of upload {r.name}")
        note(r.preview_digest, f"preview of upload {r.name}")
    return named
