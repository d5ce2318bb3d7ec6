"""`BlobStore`: content-addressed, encrypted blobs in a folder, the attachments a node holds.

A blob is named by the SHA-256 of its plaintext, written ``sha256:<64 lowercase hex>``
(`tisa.blobs.format`). A blob becomes visible (`BlobStore.has`, `BlobStore.open`) only by an
atomic rename, after it is complete, fsynced and its hash checked; partial or half-written
data never is (`tisa.blobs.folders`).

Two ways in:

* `BlobStore.writer` for an upload whose hash is not known in advance (`tisa.blobs.writer`).
* `BlobStore.partial` for a transfer from a peer whose hash and size are announced in advance,
  resumable across process restarts (`tisa.blobs.partial`, `tisa.blobs.partials`).

Nothing holds a whole blob in memory: at most one chunk (1 MiB by default) per writer, partial
or reader (`tisa.blobs.chunker`). Every blob is encrypted at rest under a data key of its own,
wrapped with a key derived from the node's key-encryption key (`tisa.blobs.cipher`). Writes
claim their disk first (`tisa.blobs.limits`); a full disk raises `DiskFull`, never a bare
OSError (`tisa.blobs.files`).

Concurrency: one `Partial` per digest at a time, across processes (`tisa.blobs.locks`).
Writers use uniquely named temporary files; committing the same content twice is harmless.
Readers need no lock: a visible blob never changes in place. Writer and Partial objects are not
thread-safe; the store itself holds no mutable state once open. POSIX only (``fcntl.flock``,
directory fsync).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from tisa.blobs.chunker import open_chunks
from tisa.blobs.cipher import KEY_SIZE, MAX_CHUNKS, derive_key, new_cipher
from tisa.blobs.files import disk, fsync_dir, pread_exact
from tisa.blobs.folders import Folders
from tisa.blobs.format import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    Header,
    chunk_count,
    format_digest,
    open_header,
    parse_digest,
)
from tisa.blobs.limits import MAX_PARTIALS, UNLIMITED, BlobTooLarge, Space
from tisa.blobs.partial import Partial
from tisa.blobs.partials import Partials, Swept
from tisa.blobs.writer import BlobWriter
from tisa.errors import ConfigInvalid, InputInvalid, NotFound, SignatureInvalid


def _check_count(value: object, what: str) -> int:
    """A non-negative int, or InputInvalid."""
    if type(value) is not int or value < 0:
        raise InputInvalid(f"{what} must be a non-negative integer, got {value!r}")
    return value


class BlobStore:
    """Content-addressed, encrypted blobs in a folder (see the module docstring).

    Construction does no I/O; `open_store` (or entering the store as a context manager) creates
    the folders and clears uploads abandoned by crashed processes.
    """

    def __init__(
        self,
        root: Path,
        kek: bytes,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        space: Space = UNLIMITED,
        max_partials: int = MAX_PARTIALS,
    ) -> None:
        """A store in `root` whose blobs are keyed by `kek`; `chunk_size` applies to new blobs.
        Writes claim their bytes from `space` first; partials hold `max_partials` bytes at most.

        Raises:
            ConfigInvalid: `kek` is not 32 bytes, or `chunk_size` is not 16 B .. 16 MiB.
        """
        if not isinstance(kek, bytes) or len(kek) != KEY_SIZE:
            raise ConfigInvalid(f"a blob key-encryption key is {KEY_SIZE} bytes")
        if type(chunk_size) is not int or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ConfigInvalid(
                f"blob chunk size must be {MIN_CHUNK_SIZE} .. {MAX_CHUNK_SIZE} bytes, "
                f"got {chunk_size!r}"
            )
        self._folders = Folders(Path(root), derive_key(kek, b"file names"))
        self._chunk_size = chunk_size
        self._space = space
        self._wrap_key = derive_key(kek, b"data-key wrapping")
        self._partials = Partials(
            self._folders,
            self._wrap_key,
            chunk_size=chunk_size,
            space=space,
            max_partials=max_partials,
        )
        self._is_open = False

    # -- opening ------------------------------------------------------------------------------

    def open_store(self) -> None:
        """Create the folders (mode 0700) and remove uploads abandoned by dead processes.

        Raises:
            ConfigInvalid: the folders cannot be created or read.
        """
        with disk(f"prepare {self._folders.root}"):
            self._folders.prepare()
        self._is_open = True

    def __enter__(self) -> Self:
        """Open the store (see `open_store`).

        Raises:
            ConfigInvalid: the folders cannot be created or read.
        """
        self.open_store()
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to release: every file is opened and closed per operation."""

    @property
    def root(self) -> Path:
        """The store's folder."""
        return self._folders.root

    @property
    def chunk_size(self) -> int:
        """Plaintext bytes per chunk in blobs this store writes (each file records its own)."""
        return self._chunk_size

    def claim(self, what: str, size: int) -> None:
        """Claim, before writing, `size` bytes of attachment data (`what`: "upload", "blob",
        "preview") from the store's space, for files written beside the store (an upload's
        scratch copy, a preview's source).

        Raises:
            DiskFull: the bytes would take the space kept free for products.
        """
        self._space.claim(what, size)

    # -- queries ------------------------------------------------------------------------------

    def has(self, digest: str) -> bool:
        """Whether a complete blob with this address is stored (partials never count).

        Raises:
            InputInvalid: `digest` is not ``sha256:<64 lowercase hex>``.
            ConfigInvalid: the store is not open.
        """
        raw = parse_digest(digest)
        self._require_open()
        return self._folders.blob_path(raw).is_file()

    def size(self, digest: str) -> int:
        """The plaintext size of a stored blob, from its verified header.

        Raises:
            InputInvalid: `digest` is malformed.
            NotFound: no such blob.
            SignatureInvalid: the header does not verify (altered, or another KEK).
            ConfigInvalid: the store is not open or the file cannot be read.
        """
        raw = parse_digest(digest)
        self._require_open()
        with disk(f"read {digest}"), self._blob_fd(raw, digest) as fd:
            return self._verify_blob(fd, raw, digest).layout.size

    def delete(self, digest: str) -> None:
        """Remove a blob; deleting one that is not there does nothing.

        Raises:
            InputInvalid: `digest` is malformed.
            ConfigInvalid: the store is not open or the file cannot be removed.
        """
        raw = parse_digest(digest)
        self._require_open()
        path = self._folders.blob_path(raw)
        with disk(f"delete {digest}"):
            try:
                path.unlink()
            except FileNotFoundError:
                return
            fsync_dir(path.parent)

    def iter_digests(self) -> Iterator[str]:
        """The addresses of all complete blobs, in no particular order.

        Each file's header is read and verified, since file names are keyed hashes.

        Raises:
            ConfigInvalid: the store is not open (at the call) or a folder cannot be read.
            SignatureInvalid: a blob file's header does not verify, or the file carries another
                blob's name (raised while iterating).
        """
        self._require_open()
        return self._iter_digests()

    def _iter_digests(self) -> Iterator[str]:
        for path in self._folders.blob_files():
            label = f"blob file {path.name}"
            with disk(f"read {path}"):
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue  # deleted while we listed
                try:
                    header = pread_exact(fd, HEADER_SIZE, 0)
                finally:
                    os.close(fd)
            raw = open_header(header, self._wrap_key, label).digest
            if not hmac.compare_digest(self._folders.name(raw), path.name):
                raise SignatureInvalid(f"{label} holds another blob than its name says")
            yield format_digest(raw)

    # -- reading ------------------------------------------------------------------------------

    def open(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        """Stream a blob's plaintext from `offset`, one chunk at a time, each chunk verified.

        The header and the file's length are checked before this returns; every chunk's tag is
        checked before any of its bytes are yielded, so nothing unverified ever comes out. The
        file is reopened (and its header checked again) when iteration starts.

        Raises:
            InputInvalid: `digest` is malformed, or `offset` is negative or past the end.
            NotFound: no such blob (also while iterating, if it was deleted meanwhile).
            SignatureInvalid: the header, the length or a chunk does not verify: the file was
                altered, truncated, or belongs to another KEK (chunks: raised while iterating).
            ConfigInvalid: the store is not open or the file cannot be read.
        """
        raw = parse_digest(digest)
        _check_count(offset, "offset")
        self._require_open()
        with disk(f"read {digest}"), self._blob_fd(raw, digest) as fd:
            size = self._verify_blob(fd, raw, digest).layout.size
        if offset > size:
            raise InputInvalid(f"offset {offset} is past the end of {digest} ({size} bytes)")
        return self._read(raw, digest, offset)

    def _read(self, raw: bytes, digest: str, offset: int) -> Iterator[bytes]:
        with disk(f"read {digest}"), self._blob_fd(raw, digest) as fd:
            header = self._verify_blob(fd, raw, digest)
            chunk_size = header.layout.chunk_size
            first = offset // chunk_size
            chunks = open_chunks(functools.partial(pread_exact, fd), header, digest, start=first)
            for index, plain in enumerate(chunks, first):
                skip = offset - index * chunk_size
                if skip > 0:
                    plain = plain[skip:]
                if plain:  # an empty blob, or an offset at the end, yields nothing
                    yield plain

    # -- writing ------------------------------------------------------------------------------

    def writer(self, *, max_size: int) -> BlobWriter:
        """Start an upload of at most `max_size` bytes whose hash is not known in advance.

        Use it as a context manager and call `BlobWriter.commit` inside; leaving the block
        without committing removes everything written.

        Raises:
            InputInvalid: `max_size` is not a non-negative integer.
            ConfigInvalid: the store is not open or the temporary file cannot be created.
        """
        _check_count(max_size, "max_size")
        self._require_open()
        with disk(f"create an upload in {self._folders.tmp}"):
            fd, path = self._folders.new_temp()
            os.lseek(fd, HEADER_SIZE, os.SEEK_SET)  # the header is written by commit()
        cipher, wrapped = new_cipher(self._wrap_key)
        return BlobWriter(
            self._folders,
            self._space,
            fd,
            path,
            max_size=max_size,
            chunk_size=self._chunk_size,
            cipher=cipher,
            wrapped=wrapped,
        )

    def partial(self, digest: str, size: int) -> Partial:
        """The in-progress receive of blob `digest` of `size` bytes, created if there is none.

        An existing partial is verified chunk by chunk (its plaintext re-read to rebuild the
        running hash); it resumes after the last whole chunk that verifies, and anything after
        it (a torn write) is cut off. `Partial.offset` says where the sender should resume.
        The Partial holds the digest's lock until it is closed, completed or discarded.

        Raises:
            InputInvalid: `digest` is malformed or `size` is not a non-negative integer.
            BlobTooLarge: `size` needs more than 2**32 - 1 chunks.
            Conflict: the blob is already stored; another Partial for it is open (here or in
                another process); or the partial on disk was announced with another size.
            DiskFull: the bytes still to come would take the reserve, or the partials folder
                past `max_partials`; or the disk is full. Nothing is written.
            SignatureInvalid: the partial's header does not verify (altered, or another KEK);
                `discard_partial` removes it.
            ConfigInvalid: the store is not open or the files cannot be written.
        """
        raw = parse_digest(digest)
        _check_count(size, "size")
        if chunk_count(size, self._chunk_size) > MAX_CHUNKS:
            raise BlobTooLarge(f"{digest}: {size} bytes is too large for one blob")
        self._require_open()
        return self._partials.open(raw, digest, size)

    def sweep_partials(self, *, idle: float, now: float) -> Swept:
        """Remove partials nobody has written to for `idle` seconds before `now` (seconds
        since the epoch, as file times are); one being received (locked) is left alone.

        Raises:
            ConfigInvalid: the store is not open, or the folder cannot be read or changed.
        """
        self._require_open()
        return self._partials.sweep(idle=idle, now=now)

    def partial_offset(self, digest: str) -> int:
        """Plaintext bytes of `digest` durably received: whole chunks on disk that verify.

        Zero if no partial exists (also when the blob is already complete: check `has`).
        Reads the whole partial; no lock is taken, so while another Partial is receiving this
        is a snapshot.

        Raises:
            InputInvalid: `digest` is malformed.
            SignatureInvalid: the partial's header does not verify.
            ConfigInvalid: the store is not open or the partial cannot be read.
        """
        raw = parse_digest(digest)
        self._require_open()
        return self._partials.offset(raw, digest)

    def discard_partial(self, digest: str) -> None:
        """Remove the partial receive of `digest`, if any.

        Raises:
            InputInvalid: `digest` is malformed.
            Conflict: a Partial for it is open (here or in another process).
            ConfigInvalid: the store is not open or the files cannot be removed.
        """
        raw = parse_digest(digest)
        self._require_open()
        self._partials.discard(raw, digest)

    # -- internals ----------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._is_open:
            raise ConfigInvalid(
                f"the blob store at {self._folders.root} is not open; call open_store()"
            )

    @contextlib.contextmanager
    def _blob_fd(self, raw: bytes, digest: str) -> Iterator[int]:
        try:
            fd = os.open(self._folders.blob_path(raw), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {digest}") from exc
        try:
            yield fd
        finally:
            os.close(fd)

    def _verify_blob(self, fd: int, raw: bytes, digest: str) -> Header:
        header = open_header(pread_exact(fd, HEADER_SIZE, 0), self._wrap_key, digest, expected=raw)
        if os.fstat(fd).st_size != header.layout.file_length:
            raise SignatureInvalid(f"{digest}: the stored file was truncated or extended")
        return header
