"""The partials folder: receives in progress, opened or resumed, measured, swept, discarded.

A partial is a blob file being filled in the same format, under partials/ (see
`tisa.blobs.folders`), with a lock file beside it held by its one open `Partial`. Resuming
verifies the file chunk by chunk and cuts off anything after the last whole chunk that verifies
(a torn write). Partials left untouched are removed by `Partials.sweep`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tisa.blobs.chunker import open_chunks
from tisa.blobs.cipher import new_cipher
from tisa.blobs.files import disk, fsync_dir, pread_exact, write_all
from tisa.blobs.folders import Folders
from tisa.blobs.format import HEADER_SIZE, Header, build_header, open_header
from tisa.blobs.limits import Space
from tisa.blobs.locks import lock
from tisa.blobs.partial import Partial
from tisa.errors import Conflict, DiskFull, SignatureInvalid
from tisa.store.disk import MIB


@dataclass(frozen=True, slots=True)
class Swept:
    """Partials removed by `BlobStore.sweep_partials`: how many, and the bytes freed."""

    count: int
    size: int


def scan(fd: int, header: Header, hasher: hashlib._Hash | None) -> int:
    """How many chunks, from the first, are whole and verify; feeds their plaintext to `hasher`.

    Raises OSError.
    """
    count = 0
    with contextlib.suppress(SignatureInvalid):  # a torn or damaged chunk: resume before it
        for plain in open_chunks(functools.partial(pread_exact, fd), header, "partial"):
            if hasher is not None:
                hasher.update(plain)
            count += 1
    return count


class Partials:
    """The partials of a store: new ones in `chunk_size` chunks under `wrap_key`, claiming from
    `space`, all together at most `max_partials` bytes. Construction does no I/O."""

    def __init__(
        self,
        folders: Folders,
        wrap_key: bytes,
        *,
        chunk_size: int,
        space: Space,
        max_partials: int,
    ) -> None:
        """Raises nothing."""
        self._folders = folders
        self._wrap_key = wrap_key
        self._chunk_size = chunk_size
        self._space = space
        self._max_partials = max_partials

    def open(self, raw: bytes, digest: str, size: int) -> Partial:
        """The receive of `raw` (written `digest`) of `size` bytes, resumed or created.

        Raises: as `BlobStore.partial`.
        """
        part, lock_path = self._folders.partial_paths(raw)
        with disk(f"lock {digest}"):
            lock_fd = lock(lock_path, f"{digest} is already being received")
        try:
            if self._folders.blob_path(raw).is_file():
                raise Conflict(f"{digest} is already stored")
            self._claim(part, digest, size)
            with disk(f"open the partial {digest}"):
                if not part.exists():
                    self._create(part, raw, size)
                fd = os.open(part, os.O_RDWR | os.O_CLOEXEC)
            try:
                return self._resume(fd, lock_fd, part, lock_path, raw, digest, size)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            if not part.exists():  # nothing to resume: leave no lock file behind either
                with contextlib.suppress(OSError):
                    lock_path.unlink()
            os.close(lock_fd)
            raise

    def offset(self, raw: bytes, digest: str) -> int:
        """Plaintext bytes of `raw` durably received; zero without a partial.

        Raises: as `BlobStore.partial_offset`.
        """
        part, _ = self._folders.partial_paths(raw)
        with disk(f"read the partial {digest}"):
            try:
                fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return 0
            try:
                header = self._read_header(fd, raw, digest)
                chunks = scan(fd, header, None)
            finally:
                os.close(fd)
        return min(chunks * header.layout.chunk_size, header.layout.size)

    def discard(self, raw: bytes, digest: str) -> None:
        """Remove the partial of `raw`, if any.

        Raises: as `BlobStore.discard_partial`.
        """
        part, lock_path = self._folders.partial_paths(raw)
        with disk(f"discard the partial {digest}"):
            lock_fd = lock(lock_path, f"{digest} is being received; close that Partial first")
            try:
                part.unlink(missing_ok=True)
                lock_path.unlink(missing_ok=True)
                fsync_dir(self._folders.partials)
            finally:
                os.close(lock_fd)

    def sweep(self, *, idle: float, now: float) -> Swept:
        """Remove partials nobody has written to for `idle` seconds before `now`.

        Raises: as `BlobStore.sweep_partials`.
        """
        folder = self._folders.partials
        count = freed = 0
        with disk(f"list {folder}"):
            parts = sorted(folder.glob("*.part"))
        for part in parts:
            lock_path = part.with_suffix(".lock")
            with disk(f"sweep {part.name}"):
                try:
                    if now - part.stat().st_mtime < idle:
                        continue
                    lock_fd = lock(lock_path, "being received")
                except (FileNotFoundError, Conflict):
                    continue
                try:
                    # Asked again under the lock: a receive may have resumed it meanwhile.
                    stat = part.stat()
                    if now - stat.st_mtime < idle:
                        continue
                    part.unlink()
                    lock_path.unlink(missing_ok=True)
                except FileNotFoundError:
                    continue
                finally:
                    os.close(lock_fd)
            count += 1
            freed += stat.st_size
        if count:
            with disk(f"sync {folder}"):
                fsync_dir(folder)
        return Swept(count, freed)

    def _claim(self, part: Path, digest: str, size: int) -> None:
        """Refuse a receive whose bytes still to come would break the reserve, or take all
        partials together past `max_partials` (estimated from file sizes, which is enough to
        keep transfers from taking the disk)."""
        with disk(f"measure {self._folders.partials}"):
            here = part.stat().st_size if part.exists() else 0
            others = sum(
                p.stat().st_size
                for p in self._folders.partials.glob("*.part")
                if p.name != part.name
            )
        self._space.claim("blob", size - max(0, here - HEADER_SIZE))
        if others + size > self._max_partials:
            raise DiskFull(
                f"{digest} ({size // MIB:,} MiB) must wait: partial downloads may hold "
                f"{self._max_partials // MIB:,} MiB in all, and {others // MIB:,} MiB are held",
                what="blob",
            )

    def _create(self, part: Path, raw: bytes, size: int) -> None:
        """Write a partial's header to a temporary file and rename it into place, so a crash
        never leaves a partial with a half-written header."""
        cipher, wrapped = new_cipher(self._wrap_key)
        header = build_header(cipher, wrapped, self._chunk_size, size, raw)
        fd, tmp = self._folders.new_temp()
        try:
            write_all(fd, header)
            os.fsync(fd)
            os.replace(tmp, part)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        fsync_dir(self._folders.partials)

    def _read_header(self, fd: int, raw: bytes, digest: str) -> Header:
        label = f"partial {digest}"
        return open_header(pread_exact(fd, HEADER_SIZE, 0), self._wrap_key, label, expected=raw)

    def _resume(
        self,
        fd: int,
        lock_fd: int,
        part: Path,
        lock_path: Path,
        raw: bytes,
        digest: str,
        size: int,
    ) -> Partial:
        with disk(f"read the partial {digest}"):
            header = self._read_header(fd, raw, digest)
            if header.layout.size != size:
                raise Conflict(
                    f"{digest} is being received as {header.layout.size} bytes, not {size}; "
                    "discard_partial() it to start over"
                )
            hasher = hashlib.sha256()
            chunks = scan(fd, header, hasher)
            layout = header.layout
            end = layout.file_length if chunks == layout.count else layout.record_offset(chunks)
            if os.fstat(fd).st_size != end:
                os.ftruncate(fd, end)
                os.fsync(fd)
            os.lseek(fd, end, os.SEEK_SET)
        return Partial(
            self._folders, self._space, fd, lock_fd, part, lock_path, header, chunks, hasher
        )
