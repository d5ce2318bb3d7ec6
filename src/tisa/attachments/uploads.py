"""Taking in a file at its originating node: type by content, scrubbed, stored encrypted.

What is signed and sent is the scrubbed file; the original stays at this node (encrypted in
its blob store, never named in a manifest), and the report of what scrubbing removed is kept
for the release officer to read before approving.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tisa.accounts import User
from tisa.attachments import kinds, previews, scrub
from tisa.blobs import BlobRef, BlobStore
from tisa.relay.context import NodeContext
from tisa.store import attachments, audit
from tisa.store.attachments import UploadRow

HEAD = 64 * 1024
COPIED_AS_IS = frozenset(
    {
        kinds.MediaType.TEXT,
        kinds.MediaType.CSV,
        kinds.MediaType.JSON,
        kinds.MediaType.ZIP,
        kinds.MediaType.GZIP,
        kinds.MediaType.TAR,
        kinds.MediaType.OCTET_STREAM,
    }
)
COPY_CHUNK = 1024 * 1024


@contextmanager
def workspace(root: Path) -> Iterator[Path]:
    """A private scratch folder (0700), removed afterwards whatever happens."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="upload-", dir=root))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _store(store: BlobStore, path: Path, max_size: int) -> BlobRef:
    with store.writer(max_size=max_size) as writer, path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            writer.write(chunk)
        return writer.commit()


def accept(
    ctx: NodeContext,
    store: BlobStore,
    user: User,
    raw: Path,
    *,
    name: str,
    declared_type: str | None,
    max_size: int,
) -> UploadRow:
    """Detect, check, scrub and store an uploaded file (already on disk at `raw`).

    Raises:
        AttachmentRefused: a disallowed or mismatched type, a bomb, a malformed file.
        TooLarge: over `max_size`.
    """
    with raw.open("rb") as handle:
        head = handle.read(HEAD)
    detected = kinds.detect(head, name=name)
    kinds.check(detected, declared_type, name)
    with workspace(raw.parent) as work:
        clean = work / "scrubbed"
        report = scrub.scrub(raw, clean, detected)
        original = _store(store, raw, max_size)
        # Data and plain text pass through scrubbing unchanged: one encrypted copy serves as
        # both, instead of encrypting the same bytes twice.
        unchanged = not report.removed and detected.media_type in COPIED_AS_IS
        scrubbed = original if unchanged else _store(store, clean, max_size)
        preview: BlobRef | None = None
        if detected.kind == "photo":
            thumb = work / "preview.jpg"
            previews.thumbnail(clean, thumb)
            preview = _store(store, thumb, max_size)
    now = ctx.clock()
    row = UploadRow(
        digest=scrubbed.digest,
        name=name,
        media_type=detected.media_type,
        kind=str(detected.kind),
        size=scrubbed.size,
        removed=list(report.removed),
        original_digest=original.digest,
        preview_digest=None if preview is None else preview.digest,
        uploaded_by=user.username,
        uploaded_at=now,
    )
    with ctx.db.begin() as conn:
        attachments.add_upload(conn, row)
        audit.record(
            conn,
            audit.Action.UPLOAD,
            at=now,
            actor=user.username,
            detail={
                "digest": row.digest,
                "name": name,
                "media_type": row.media_type,
                "size": row.size,
                "removed": row.removed,
                "original": row.original_digest,
            },
        )
    return row
