"""A resumable receive of a blob whose digest and size were announced: `Partial`.

Get one from `BlobStore.partial`; it resumes across process restarts from the last whole chunk
on disk, and `Partial.complete` checks size and hash before the blob becomes visible. A Partial
holds its digest's lock (`tisa.blobs.locks`) until it is closed, completed or discarded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import weakref
from pathlib import Path
from typing import Final, Self

from tisa.blobs.chunker import Chunker
from tisa.blobs.cipher import Plaintext
from tisa.blobs.files import close_quietly, disk, fsync_dir, os_error, write_all
from tisa.blobs.folders import Folders
from tisa.blobs.format import BlobRef, Header, format_digest
from tisa.blobs.limits import BlobTooLarge, Space
from tisa.errors import Conflict, InputInvalid, SignatureInvalid

_SYNC_EVERY: Final = 64 << 20  # a partial fsyncs at least this often while receiving


class _Records:
    """Writes sealed records to a partial's file and counts the bytes not yet fsynced."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.unsynced = 0

    def __call__(self, record: bytes) -> None:
        write_all(self.fd, record)
        self.unsynced += len(record)


class Partial:
    """A resumable receive of a blob whose digest and size were announced in advance.

    Get one from `BlobStore.partial`. Append plaintext from `offset` on; whole chunks are
    encrypted and written as they fill, and fsynced at least every 64 MiB, on `sync`, `close`
    and `complete`. A tail shorter than a chunk lives in memory only: after `close` or a crash
    the receive resumes at the last whole chunk on disk, and the sender resends from there.
    A Partial dropped without `close` releases its lock when garbage-collected.
    """

    def __init__(
        self,
        folders: Folders,
        space: Space,
        fd: int,
        lock_fd: int,
        part: Path,
        lock: Path,
        header: Header,
        chunks: int,
        hasher: hashlib._Hash,
    ) -> None:
        """Called by `BlobStore.partial`, with `chunks` whole chunks of `header`'s blob in the
        file `fd` (positioned after them) and their plaintext fed to `hasher`. Raises nothing."""
        self._folders = folders
        self._space = space
        self._fd: int | None = fd
        self._part = part
        self._lock = lock
        self._raw = header.digest
        self._layout = header.layout
        self._hasher = hasher
        self._records = _Records(fd)
        self._chunker = Chunker(
            header.cipher,
            self._layout.chunk_size,
            self._records,
            size=self._layout.size,
            index=chunks,
        )
        self._offset = min(chunks * self._layout.chunk_size, self._layout.size)
        # A Partial dropped without close() still releases its lock when collected (without
        # an fsync); calling the finalizer is the one way its descriptors are closed.
        self._closer = weakref.finalize(self, close_quietly, fd, lock_fd)

    @property
    def digest(self) -> str:
        """The announced address, ``sha256:<hex>``."""
        return format_digest(self._raw)

    @property
    def size(self) -> int:
        """The announced plaintext size in bytes."""
        return self._layout.size

    @property
    def offset(self) -> int:
        """Plaintext bytes received so far: the next `append` continues here."""
        return self._offset

    def append(self, data: Plaintext) -> None:
        """Append plaintext at `offset`.

        Raises:
            BlobTooLarge: this would pass the announced size; nothing is appended.
            Conflict: the Partial is closed, completed or discarded.
            DiskFull: the bytes would take the reserve (nothing is appended; the Partial stays
                open), or the disk is full (the Partial is closed, as below).
            ConfigInvalid: the disk refused a write; the Partial is closed (whole chunks
                already on disk stay, and a new `BlobStore.partial` resumes after them).
        """
        fd = self._require_open()
        view = memoryview(data).cast("B")
        if self._offset + len(view) > self.size:
            raise BlobTooLarge(
                f"{self.digest}: {len(view)} bytes at offset {self._offset} would pass "
                f"the announced size of {self.size} bytes"
            )
        self._space.claim("blob", len(view))
        self._hasher.update(view)
        self._offset += len(view)
        try:
            self._chunker.write(view)
            if self._records.unsynced >= _SYNC_EVERY:
                os.fsync(fd)
                self._records.unsynced = 0
        except OSError as exc:
            self._release(unlink_lock=False)
            raise os_error(exc, f"write {self.digest}") from exc

    def sync(self) -> int:
        """Fsync what is written; return the plaintext bytes now durable (whole chunks).

        Raises:
            Conflict: the Partial is closed, completed or discarded.
            ConfigInvalid: fsync failed; the Partial is closed.
        """
        fd = self._require_open()
        try:
            os.fsync(fd)
        except OSError as exc:
            self._release(unlink_lock=False)
            raise os_error(exc, f"sync {self.digest}") from exc
        self._records.unsynced = 0
        return min(self._chunker.index * self._layout.chunk_size, self.size)

    def complete(self) -> BlobRef:
        """Check size and SHA-256, then make the blob visible atomically; closes the Partial.

        Raises:
            InputInvalid: fewer than `size` bytes have arrived; the Partial stays open.
            SignatureInvalid: the bytes received do not hash to the digest; the partial is
                discarded.
            Conflict: the Partial is closed, completed or discarded.
            ConfigInvalid: the disk refused a write, fsync or rename; the Partial is closed.
        """
        fd = self._require_open()
        if self._offset != self.size:
            raise InputInvalid(
                f"{self.digest}: {self._offset} of {self.size} bytes received; "
                "send the rest before completing"
            )
        if not hmac.compare_digest(self._hasher.digest(), self._raw):
            self.discard()
            raise SignatureInvalid(f"received bytes do not match {self.digest}")
        try:
            self._chunker.finish()  # an empty blob's one empty chunk; the rest went out already
            os.fsync(fd)
            ref = self._folders.install(self._part, self._raw, self.size)
        except OSError as exc:
            self._release(unlink_lock=False)
            raise os_error(exc, f"complete {self.digest}") from exc
        self._release(unlink_lock=True)
        return ref

    def discard(self) -> None:
        """Remove this partial from disk and close it; does nothing once closed.

        Raises:
            ConfigInvalid: the files cannot be removed; the Partial is closed.
        """
        if self._fd is None:
            return
        try:
            with disk(f"discard the partial {self.digest}"):
                self._part.unlink(missing_ok=True)
                fsync_dir(self._part.parent)
        finally:
            self._release(unlink_lock=True)

    def close(self) -> None:
        """Fsync whole chunks and release the lock, keeping the partial for a later resume.

        The in-memory tail (less than one chunk) is dropped. Does nothing once closed.

        Raises:
            ConfigInvalid: fsync failed (the lock is released all the same).
        """
        if self._fd is None:
            return
        try:
            with disk(f"sync {self.digest}"):
                os.fsync(self._fd)
        finally:
            self._release(unlink_lock=False)

    def _release(self, *, unlink_lock: bool) -> None:
        if self._fd is None:
            return
        if unlink_lock:  # while still holding it: see tisa.blobs.locks.lock
            with contextlib.suppress(OSError):
                self._lock.unlink()
        self._fd = None
        self._closer()
        self._chunker.drop()

    def _require_open(self) -> int:
        if self._fd is None:
            raise Conflict(f"the partial receive of {self.digest} is closed")
        return self._fd

    def __enter__(self) -> Self:
        """Raises nothing."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close, keeping progress for a later resume.

        Raises:
            ConfigInvalid: fsync failed (the lock is released all the same).
        """
        self.close()
