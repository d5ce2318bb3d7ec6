"""An upload whose hash is not known in advance: `BlobWriter`, from `BlobStore.writer`.

Bytes stream into a temporary file in tmp/ (flock-ed, so `open_store` leaves it alone) and
`BlobWriter.commit` names the blob by what arrived. Nothing of the upload is visible before
then; leaving the writer without committing removes everything it wrote.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import weakref
from pathlib import Path
from typing import Self

from tisa.blobs.chunker import Chunker
from tisa.blobs.cipher import MAX_CHUNKS, ChunkCipher, Plaintext
from tisa.blobs.files import close_quietly, os_error, pwrite_all, write_all
from tisa.blobs.folders import Folders
from tisa.blobs.format import BlobRef, build_header, chunk_count
from tisa.blobs.limits import BlobTooLarge, Space
from tisa.errors import Conflict, DiskFull


class BlobWriter:
    """An upload in progress; get one from `BlobStore.writer` and use it as a context manager.

    Plaintext is hashed as it arrives and encrypted a chunk at a time into a temporary file;
    the last chunk is held back until `commit`, which alone knows it is the last.
    """

    def __init__(
        self,
        folders: Folders,
        space: Space,
        fd: int,
        path: Path,
        *,
        max_size: int,
        chunk_size: int,
        cipher: ChunkCipher,
        wrapped: bytes,
    ) -> None:
        """Called by `BlobStore.writer`, with the temporary file open as `fd`, positioned
        after the header. Raises nothing."""
        self._folders = folders
        self._space = space
        self._fd: int | None = fd
        self._path = path
        self._max_size = max_size
        self._chunk_size = chunk_size
        self._cipher = cipher
        self._wrapped = wrapped
        self._chunker = Chunker(cipher, chunk_size, functools.partial(write_all, fd))
        self._hasher = hashlib.sha256()
        self._size = 0
        self._ref: BlobRef | None = None
        # A writer dropped without commit or abort still closes its file when collected; the
        # temporary file is then swept by the next open_store().
        self._closer = weakref.finalize(self, close_quietly, fd)

    @property
    def size(self) -> int:
        """Plaintext bytes written so far."""
        return self._size

    def write(self, data: Plaintext) -> None:
        """Append plaintext.

        Raises:
            BlobTooLarge: this would pass `max_size`; the upload is removed, the writer closed.
            Conflict: the writer was already committed or aborted.
            DiskFull: the bytes would take the reserve, or the disk is full; the upload is
                removed.
            ConfigInvalid: the disk refused the write otherwise; the upload is removed.
        """
        self._require_open()
        view = memoryview(data).cast("B")
        if self._size + len(view) > self._max_size:
            self.abort()
            raise BlobTooLarge(f"the upload is larger than its limit of {self._max_size} bytes")
        if chunk_count(self._size + len(view), self._chunk_size) > MAX_CHUNKS:
            self.abort()
            raise BlobTooLarge("the upload is too large for one blob")
        try:
            self._space.claim("upload", len(view))
        except DiskFull:
            self.abort()
            raise
        self._hasher.update(view)
        self._size += len(view)
        try:
            self._chunker.write(view)
        except OSError as exc:
            self.abort()
            raise os_error(exc, "write an upload", what="upload") from exc

    def commit(self) -> BlobRef:
        """Seal the last chunk and the header, fsync, and make the blob visible atomically.

        If a blob with the same content is already stored, the upload is dropped and that
        blob's reference returned.

        Raises:
            Conflict: the writer was already committed or aborted.
            DiskFull: the disk is full; the upload is removed.
            ConfigInvalid: the disk refused a write, fsync or rename; the upload is removed.
        """
        fd = self._require_open()
        try:
            self._chunker.finish()
            raw = self._hasher.digest()
            header = build_header(self._cipher, self._wrapped, self._chunk_size, self._size, raw)
            pwrite_all(fd, header, 0)
            os.fsync(fd)
            self._ref = self._folders.install(self._path, raw, self._size)
        except OSError as exc:
            self.abort()
            raise os_error(exc, "commit an upload", what="upload") from exc
        self._close()
        return self._ref

    def abort(self) -> None:
        """Drop the upload and its temporary file; does nothing once committed or aborted.

        Raises nothing: a temporary file that cannot be removed is swept by a later
        `BlobStore.open_store`.
        """
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self._path.unlink()
        self._close()

    def _close(self) -> None:
        self._chunker.drop()
        self._fd = None
        self._closer()

    def _require_open(self) -> int:
        if self._fd is None:
            state = "committed" if self._ref is not None else "aborted"
            raise Conflict(f"this blob writer was already {state}")
        return self._fd

    def __enter__(self) -> Self:
        """Raises nothing."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Abort unless committed. Raises nothing."""
        self.abort()
