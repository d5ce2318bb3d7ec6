"""Taking in a file at its originating node: type by content, scrubbed, stored encrypted.

What is signed and sent is the scrubbed file; the original stays at this node (encrypted in
its blob store, never named in a manifest), and the report of what scrubbing removed is kept
for the release officer to read before approving.

Every byte written for an upload (its body as it arrives, the scrubbed copy, the encrypted
blobs, a photo's preview) is first claimed from the node's reserve (`tisa.store.disk.Reserve`,
through the blob store), so uploads never take the space kept for products; a full disk is
`DiskFull`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from tisa.attachments import kinds, previews, scrub
from tisa.blobs.format import BlobRef
from tisa.blobs.store import BlobStore
from tisa.errors import TooLarge
from tisa.store import attachments, audit
from tisa.store.attachments import UploadRow
from tisa.store.database import Database
from tisa.store.disk import full, is_disk_full, writing

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
    """A private scratch folder (0700), removed afterwards whatever happens.

    Raises:
        DiskFull: the folder cannot be made: the disk is full.
    """
    with writing("upload", "a scratch folder could not be made"):
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="upload-", dir=root))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_workspaces(root: Path, *, idle: float, now: float) -> int:
    """Remove scratch folders in `root` untouched for `idle` seconds before `now` (seconds
    since the epoch): left by a process that died in the middle of an upload. How many.

    Raises nothing: a folder that cannot be removed is left for the next sweep.
    """
    removed = 0
    for folder in root.glob("upload-*") if root.is_dir() else ():
        try:
            if now - folder.stat().st_mtime < idle:
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed += 1
    return removed


async def receive(
    body: AsyncIterator[bytes], path: Path, *, store: BlobStore, name: str, limit: int
) -> int:
    """Write an upload's body to `path` as it arrives, each block claimed from the reserve
    before it is written; the number of bytes.

    Raises:
        TooLarge: the body is over `limit` bytes.
        DiskFull: the body would take the reserve, or the disk is full.
    """
    size = 0
    with writing("upload", f"the upload {name} could not be written"), path.open("wb") as handle:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{name} is over the {limit:,}-byte limit")
            store.claim("upload", len(chunk))
            await asyncio.to_thread(handle.write, chunk)
    return size


def _store(store: BlobStore, path: Path, max_size: int) -> BlobRef:
    with store.writer(max_size=max_size) as writer, path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            writer.write(chunk)
        return writer.commit()


def accept(
    db: Database,
    store: BlobStore,
    raw: Path,
    *,
    by: str,
    clock: Callable[[], datetime],
    name: str,
    declared_type: str | None,
    max_size: int,
) -> UploadRow:
    """Detect, check, scrub and store a file user `by` uploaded (already on disk at `raw`).

    Raises:
        AttachmentRefused: a disallowed or mismatched type, a bomb, a malformed file.
        TooLarge: over `max_size`.
        DiskFull: storing it would take the reserve, or the disk is full; nothing is kept.
    """
    with raw.open("rb") as handle:
        head = handle.read(HEAD)
    detected = kinds.detect(head, name=name)
    kinds.check(detected, declared_type, name)
    # The scrubbed copy is as large as the original, at most: claimed before it is written.
    store.claim("upload", raw.stat().st_size)
    with writing("upload", f"the upload {name} could not be stored"), workspace(raw.parent) as work:
        clean = work / "scrubbed"
        try:
            report = scrub.scrub(raw, clean, detected)
        except kinds.AttachmentRefused as exc:
            # A scrubber's failure to write its copy is a full disk, not a malformed file.
            if is_disk_full(exc):
                raise full("upload", f"the upload {name} could not be scrubbed") from exc
            raise
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
    now = clock()
    row = UploadRow(
        digest=scrubbed.digest,
        name=name,
        media_type=detected.media_type,
        kind=str(detected.kind),
        size=scrubbed.size,
        removed=list(report.removed),
        original_digest=original.digest,
        preview_digest=None if preview is None else preview.digest,
        uploaded_by=by,
        uploaded_at=now,
    )
    with db.begin() as conn:
        attachments.add_upload(conn, row)
        audit.record(
            conn,
            audit.Action.UPLOAD,
            at=now,
            actor=by,
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
