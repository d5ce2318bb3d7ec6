"""Attachments as content-addressed blobs, encrypted at rest and streamed in chunks.

A blob is named by the SHA-256 of its plaintext, written ``sha256:<64 lowercase hex>``. A blob
becomes visible (`BlobStore.has`, `BlobStore.open`) only by an atomic rename, after it is
complete, fsynced and its hash checked; partial or half-written data never is.

Two ways in:

* `BlobStore.writer` for an upload whose hash is not known in advance: bytes stream into a
  temporary file and `BlobWriter.commit` names the blob by what arrived.
* `BlobStore.partial` for a transfer from a peer whose hash and size are announced in advance:
  it resumes across process restarts from the last whole chunk on disk, and
  `Partial.complete` checks size and hash before the blob becomes visible.

Nothing holds a whole blob in memory: at most one chunk (1 MiB by default) per writer, partial
or reader.

Disk
----
Every write of a writer or partial first claims its bytes from the store's `Space` (a node's
`tisa.store.disk.Reserve`), so attachments never take the free space kept for products; a partial is
refused up front when its announced size would break the reserve, or would take the partials
folder past `max_partials` bytes in all. Partials left untouched are removed by
`sweep_partials`. A disk that is full anyway (ENOSPC) raises `DiskFull`, never a bare OSError.

Encryption at rest
------------------
The node's key-encryption key (KEK, 32 random bytes in a 0600 file: `BlobStore.create_key`,
`BlobStore.load_key`) never touches data directly. Two keys are derived from it with
HKDF-SHA256: a wrapping key and a file-name key. Each blob gets a fresh random 256-bit data
key, wrapped with AES key wrap (RFC 3394, which carries its own integrity check), and its
plaintext is cut into fixed-size chunks, each sealed with AES-256-GCM.

File names are HMAC-SHA256(file-name key, digest), not the digest itself, so a stolen folder
does not even confirm which known documents a node holds; it reveals only approximate sizes.

File format, version 1 (integers big-endian)::

    header, 117 bytes
      magic          8   b"TISABLOB"
      version        1   1
      chunk size     4   plaintext bytes per chunk (16 B .. 16 MiB)
      size           8   plaintext bytes in the blob
      nonce prefix   8   random
      wrapped key   40   RFC 3394 AES key wrap of the data key
      sealed digest 48   AES-GCM(data key, nonce = prefix || FFFFFFFF,
                                 plaintext = 32-byte SHA-256, aad = the 69 bytes above)
    chunk records, ceil(size / chunk size) of them, at least 1
      AES-GCM(data key, nonce = prefix || uint32 index,
              aad = b"tisa-blob-chunk-v1" || uint32 index || uint8 last)
      = ciphertext (chunk size bytes, the last one shorter or empty) || 16-byte tag

The sealed digest binds the header (sizes, nonce prefix, wrapped key) and the blob's hash to the
data key, which is used for one blob only; every chunk is bound to that data key, its index and
whether it is the last. So a chunk cannot move within a blob or to another blob, a file cannot be
renamed to another digest, and a truncated or extended file does not verify. The hash sits in
the sealed header rather than in each chunk's associated data because an upload's hash is known
only after its last byte: binding it into every chunk would need a second encryption pass.

Folders under the root::

    blobs/<2 hex>/<64 hex>     complete blobs (the name is the keyed HMAC above)
    partials/<64 hex>.part     transfers in progress, in the same format
    partials/<64 hex>.lock     flock(2) lock: one Partial per digest across processes
    tmp/<random>.tmp           uploads in progress, each flock(2)ed by its writer

Concurrency: one `Partial` per digest at a time, enforced with an exclusive, non-blocking
``flock`` on the lock file (a second `partial` for the same digest, in this or another process,
raises `Conflict`); the kernel drops the lock when its process dies, so a crash never leaves a
stale lock behind. Writers use uniquely named temporary files (``O_EXCL``); committing the same
content twice is harmless. Readers need no lock: a visible blob never changes in place. Writer
and Partial objects are not thread-safe; the store itself holds no mutable state once open.
POSIX only (``fcntl.flock``, directory fsync).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import struct
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from tisa.errors import (
    ConfigInvalid,
    Conflict,
    DiskFull,
    InputInvalid,
    NotFound,
    SignatureInvalid,
    TisaError,
    TooLarge,
)
from tisa.store.disk import MIB, Unlimited, full

MAGIC: Final = b"TISABLOB"
FORMAT_VERSION: Final = 1
KEY_SIZE: Final = 32
DEFAULT_CHUNK_SIZE: Final = 1 << 20
MIN_CHUNK_SIZE: Final = 16
MAX_CHUNK_SIZE: Final = 1 << 24

_TAG: Final = 16
_FIELDS: Final = struct.Struct(">8sBIQ8s40s")
_SEALED_DIGEST_SIZE: Final = 32 + _TAG
HEADER_SIZE: Final = _FIELDS.size + _SEALED_DIGEST_SIZE
_SEAL_COUNTER: Final = 0xFFFFFFFF
_MAX_CHUNKS: Final = 0xFFFFFFFF  # chunk counters 0 .. 2**32 - 2; the top value seals the header
_CHUNK_LABEL: Final = b"tisa-blob-chunk-v1"
_SYNC_EVERY: Final = 64 << 20  # a partial fsyncs at least this often while receiving
_DIGEST: Final = re.compile(r"sha256:([0-9a-f]{64})")
_NAME: Final = re.compile(r"[0-9a-f]{64}")
_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
# All partials together may hold at most this much: four of the largest attachments a channel
# allows (4 GiB each by default) in flight at once.
MAX_PARTIALS: Final = 16 * 1024 * MIB
_UNLIMITED: Final = Unlimited()

_Data = bytes | bytearray | memoryview


class BlobTooLarge(TooLarge):
    """More bytes than a writer's `max_size` or a partial's announced size."""


class Space(Protocol):
    """Where the store claims disk before it writes (a node's `tisa.store.disk.Reserve`)."""

    def claim(self, what: str, size: int) -> None:
        """Refuse `size` more bytes of `what` ("upload", "blob", "preview") when they would
        take space that must stay free.

        Raises:
            DiskFull: the write must not happen.
        """
        ...


@dataclass(frozen=True, slots=True)
class Swept:
    """Partials removed by `BlobStore.sweep_partials`: how many, and the bytes freed."""

    count: int
    size: int


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its address (``sha256:<hex>``) and its plaintext size in bytes."""

    digest: str
    size: int


# -- pure helpers ---------------------------------------------------------------------------


def _parse_digest(digest: str) -> bytes:
    """The 32 raw bytes of ``sha256:<hex>``; raises InputInvalid for anything else."""
    match = _DIGEST.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InputInvalid(f"not a blob address (sha256:<64 lowercase hex>): {digest!r}")
    return bytes.fromhex(match.group(1))


def _format_digest(raw: bytes) -> str:
    return "sha256:" + raw.hex()


def _check_count(value: object, what: str) -> int:
    """A non-negative int, or InputInvalid."""
    if type(value) is not int or value < 0:
        raise InputInvalid(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def _derive(kek: bytes, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tisa-blobs-v1 " + purpose)
    return hkdf.derive(kek)


class _Layout:
    """Where each chunk of a blob of `size` bytes in `chunk_size` chunks lies."""

    def __init__(self, chunk_size: int, size: int) -> None:
        self.chunk_size = chunk_size
        self.size = size
        self.count = _chunk_count(size, chunk_size)
        self.file_length = HEADER_SIZE + size + self.count * _TAG

    def plain_length(self, index: int) -> int:
        if index < self.count - 1:
            return self.chunk_size
        return self.size - (self.count - 1) * self.chunk_size

    def record_offset(self, index: int) -> int:
        return HEADER_SIZE + index * (self.chunk_size + _TAG)


class _Cipher:
    """AES-256-GCM under one blob's data key."""

    def __init__(self, data_key: bytes, prefix: bytes) -> None:
        self._aead = AESGCM(data_key)
        self.prefix = prefix

    def _nonce(self, counter: int) -> bytes:
        return self.prefix + counter.to_bytes(4, "big")

    @staticmethod
    def _aad(index: int, last: bool) -> bytes:
        return _CHUNK_LABEL + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

    def seal_chunk(self, index: int, plain: _Data, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index), plain, self._aad(index, last))

    def open_chunk(self, index: int, record: bytes, last: bool) -> bytes:
        """Raises InvalidTag."""
        return self._aead.decrypt(self._nonce(index), record, self._aad(index, last))

    def seal_digest(self, fields: bytes, digest: bytes) -> bytes:
        return self._aead.encrypt(self._nonce(_SEAL_COUNTER), digest, fields)

    def open_digest(self, fields: bytes, sealed: bytes) -> bytes:
        """Raises InvalidTag."""
        return self._aead.decrypt(self._nonce(_SEAL_COUNTER), sealed, fields)


@dataclass(frozen=True)
class _Opened:
    """A header that verified: the blob's digest, layout and cipher."""

    digest: bytes
    layout: _Layout
    cipher: _Cipher


def _build_header(
    cipher: _Cipher, wrapped: bytes, chunk_size: int, size: int, digest: bytes
) -> bytes:
    fields = _FIELDS.pack(MAGIC, FORMAT_VERSION, chunk_size, size, cipher.prefix, wrapped)
    return fields + cipher.seal_digest(fields, digest)


def _open_header(header: bytes, wrap_key: bytes, label: str) -> _Opened:
    """Check and decrypt a header; raises SignatureInvalid naming `label`."""
    if len(header) < HEADER_SIZE:
        raise SignatureInvalid(f"{label}: the file is shorter than a blob header")
    fields = header[: _FIELDS.size]
    magic, version, chunk_size, size, prefix, wrapped = _FIELDS.unpack(fields)
    if magic != MAGIC:
        raise SignatureInvalid(f"{label}: not a tisa blob file")
    if version != FORMAT_VERSION:
        raise SignatureInvalid(f"{label}: blob format version {version} is not supported")
    try:
        data_key = aes_key_unwrap(wrap_key, wrapped)
    except (InvalidUnwrap, ValueError) as exc:
        raise SignatureInvalid(
            f"{label}: the data key does not unwrap (another key-encryption key, "
            "or the header was altered)"
        ) from exc
    cipher = _Cipher(data_key, prefix)
    try:
        digest = cipher.open_digest(fields, header[_FIELDS.size : HEADER_SIZE])
    except InvalidTag as exc:
        raise SignatureInvalid(f"{label}: the header does not verify; it was altered") from exc
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise SignatureInvalid(f"{label}: chunk size {chunk_size} is out of range")
    layout = _Layout(chunk_size, size)
    if layout.count > _MAX_CHUNKS:
        raise SignatureInvalid(f"{label}: {size} bytes in {chunk_size}-byte chunks is too many")
    return _Opened(digest, layout, cipher)


# -- file-system helpers --------------------------------------------------------------------


def _os_error(exc: OSError, doing: str, *, what: str = "blob") -> TisaError:
    """DiskFull when the disk is full (`what` is the kind of write, for counting); otherwise
    ConfigInvalid: the blob folder is unusable (read-only, gone...)."""
    if exc.errno in _FULL:
        return full(what, f"the blob store could not {doing}")
    return ConfigInvalid(f"blob store: cannot {doing}: {exc.strerror or exc}")


@contextlib.contextmanager
def _disk(what: str) -> Iterator[None]:
    """Turn an OSError into DiskFull (the disk is full) or ConfigInvalid (the blob folder is
    unusable otherwise)."""
    try:
        yield
    except OSError as exc:
        raise _os_error(exc, what) from exc


def _write_all(fd: int, data: _Data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _pread_exact(fd: int, length: int, offset: int) -> bytes:
    """Up to `length` bytes at `offset`; fewer only at end of file."""
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _close_quietly(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (it may have been unlinked)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock(path: Path, busy: str) -> int:
    """Create `path` if needed and hold an exclusive flock on it; Conflict if held elsewhere.

    After locking, the path must still name the locked file: a holder that finished unlinks the
    lock file while holding it, so a lock taken on the unlinked file is worthless; retry then.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if not _try_flock(fd):
                raise Conflict(busy)
            if _same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _scan(fd: int, opened: _Opened, hasher: hashlib._Hash | None) -> int:
    """How many chunks, from the first, are whole and verify; feeds their plaintext to `hasher`."""
    layout = opened.layout
    for index in range(layout.count):
        length = layout.plain_length(index) + _TAG
        record = _pread_exact(fd, length, layout.record_offset(index))
        if len(record) != length:
            return index
        try:
            plain = opened.cipher.open_chunk(index, record, index == layout.count - 1)
        except InvalidTag:
            return index
        if hasher is not None:
            hasher.update(plain)
    return layout.count


# -- the store ------------------------------------------------------------------------------


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
        space: Space = _UNLIMITED,
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
        self._root = Path(root)
        self._blobs = self._root / "blobs"
        self._partials = self._root / "partials"
        self._tmp = self._root / "tmp"
        self._chunk_size = chunk_size
        self._space = space
        self._max_partials = max_partials
        self._wrap_key = _derive(kek, b"data-key wrapping")
        self._name_key = _derive(kek, b"file names")
        self._is_open = False

    # -- keys ---------------------------------------------------------------------------------

    @staticmethod
    def create_key(path: Path) -> bytes:
        """Write a new random 32-byte key-encryption key to `path` (mode 0600) and return it.

        Raises:
            Conflict: `path` already exists; a key is never overwritten.
            ConfigInvalid: the file cannot be written.
        """
        key = secrets.token_bytes(KEY_SIZE)
        path = Path(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError as exc:
            raise Conflict(f"{path} exists; refusing to overwrite a key-encryption key") from exc
        except OSError as exc:
            raise ConfigInvalid(f"cannot create {path}: {exc.strerror or exc}") from exc
        with _disk(f"write {path}"):
            try:
                os.fchmod(fd, 0o600)
                _write_all(fd, key)
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(path.parent)
        return key

    @staticmethod
    def load_key(path: Path) -> bytes:
        """Read a key-encryption key written by `create_key`.

        Raises:
            ConfigInvalid: the file is missing or unreadable, is not exactly 32 bytes, or may be
                read by group or others.
        """
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise ConfigInvalid(f"cannot read {path}: {exc.strerror or exc}") from exc
        with _disk(f"read {path}"):
            try:
                mode = os.fstat(fd).st_mode
                key = _pread_exact(fd, KEY_SIZE + 1, 0)
            finally:
                os.close(fd)
        if mode & 0o077:
            raise ConfigInvalid(f"{path} may be read by group or others; chmod 600 it")
        if len(key) != KEY_SIZE:
            raise ConfigInvalid(f"{path} does not hold a {KEY_SIZE}-byte key")
        return key

    # -- opening ------------------------------------------------------------------------------

    def open_store(self) -> None:
        """Create the folders (mode 0700) and remove uploads abandoned by dead processes.

        Raises:
            ConfigInvalid: the folders cannot be created or read.
        """
        with _disk(f"prepare {self._root}"):
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for folder in (self._blobs, self._partials, self._tmp):
                folder.mkdir(mode=0o700, exist_ok=True)
            for stale in self._tmp.iterdir():
                self._remove_if_abandoned(stale)
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
        return self._root

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
        raw = _parse_digest(digest)
        self._require_open()
        return self._blob_path(raw).is_file()

    def size(self, digest: str) -> int:
        """The plaintext size of a stored blob, from its verified header.

        Raises:
            InputInvalid: `digest` is malformed.
            NotFound: no such blob.
            SignatureInvalid: the header does not verify (altered, or another KEK).
            ConfigInvalid: the store is not open or the file cannot be read.
        """
        raw = _parse_digest(digest)
        self._require_open()
        with _disk(f"read {digest}"), self._blob_fd(raw, digest) as fd:
            return self._verify_blob(fd, raw, digest).layout.size

    def delete(self, digest: str) -> None:
        """Remove a blob; deleting one that is not there does nothing.

        Raises:
            InputInvalid: `digest` is malformed.
            ConfigInvalid: the store is not open or the file cannot be removed.
        """
        raw = _parse_digest(digest)
        self._require_open()
        path = self._blob_path(raw)
        with _disk(f"delete {digest}"):
            try:
                path.unlink()
            except FileNotFoundError:
                return
            _fsync_dir(path.parent)

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
        with _disk(f"list {self._blobs}"):
            shards = sorted(p for p in self._blobs.iterdir() if p.is_dir())
        for shard in shards:
            with _disk(f"list {shard}"):
                names = sorted(p for p in shard.iterdir() if _NAME.fullmatch(p.name))
            for path in names:
                label = f"blob file {path.name}"
                with _disk(f"read {path}"):
                    try:
                        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:
                        continue  # deleted while we listed
                    try:
                        header = _pread_exact(fd, HEADER_SIZE, 0)
                    finally:
                        os.close(fd)
                raw = _open_header(header, self._wrap_key, label).digest
                if not hmac.compare_digest(self._name(raw), path.name):
                    raise SignatureInvalid(f"{label} holds another blob than its name says")
                yield _format_digest(raw)

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
        raw = _parse_digest(digest)
        _check_count(offset, "offset")
        self._require_open()
        with _disk(f"read {digest}"), self._blob_fd(raw, digest) as fd:
            size = self._verify_blob(fd, raw, digest).layout.size
        if offset > size:
            raise InputInvalid(f"offset {offset} is past the end of {digest} ({size} bytes)")
        return self._read(raw, digest, offset)

    def _read(self, raw: bytes, digest: str, offset: int) -> Iterator[bytes]:
        with _disk(f"read {digest}"), self._blob_fd(raw, digest) as fd:
            opened = self._verify_blob(fd, raw, digest)
            layout = opened.layout
            for index in range(offset // layout.chunk_size, layout.count):
                length = layout.plain_length(index) + _TAG
                record = _pread_exact(fd, length, layout.record_offset(index))
                if len(record) != length:
                    raise SignatureInvalid(f"{digest}: the stored file was truncated")
                try:
                    plain = opened.cipher.open_chunk(index, record, index == layout.count - 1)
                except InvalidTag as exc:
                    raise SignatureInvalid(
                        f"{digest}: chunk {index} does not verify; the stored file was altered"
                    ) from exc
                skip = offset - index * layout.chunk_size
                if skip > 0:
                    plain = plain[skip:]
                if plain:
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
        with _disk(f"create an upload in {self._tmp}"):
            fd, path = self._new_temp()
            os.lseek(fd, HEADER_SIZE, os.SEEK_SET)  # the header is written by commit()
        return BlobWriter(self, fd, path, max_size)

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
        raw = _parse_digest(digest)
        _check_count(size, "size")
        if _chunk_count(size, self._chunk_size) > _MAX_CHUNKS:
            raise BlobTooLarge(f"{digest}: {size} bytes is too large for one blob")
        self._require_open()
        part, lock = self._partial_paths(raw)
        with _disk(f"lock {digest}"):
            lock_fd = _lock(lock, f"{digest} is already being received")
        try:
            if self._blob_path(raw).is_file():
                raise Conflict(f"{digest} is already stored")
            self._claim_partial(part, digest, size)
            with _disk(f"open the partial {digest}"):
                if not part.exists():
                    self._create_partial(part, raw, size)
                fd = os.open(part, os.O_RDWR | os.O_CLOEXEC)
            try:
                return self._resume(fd, lock_fd, part, lock, raw, digest, size)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            if not part.exists():  # nothing to resume: leave no lock file behind either
                with contextlib.suppress(OSError):
                    lock.unlink()
            os.close(lock_fd)
            raise

    def _claim_partial(self, part: Path, digest: str, size: int) -> None:
        """Refuse a receive whose bytes still to come would break the reserve, or take all
        partials together past `max_partials` (estimated from file sizes, which is enough to
        keep transfers from taking the disk)."""
        with _disk(f"measure {self._partials}"):
            here = part.stat().st_size if part.exists() else 0
            others = sum(
                p.stat().st_size for p in self._partials.glob("*.part") if p.name != part.name
            )
        self._space.claim("blob", size - max(0, here - HEADER_SIZE))
        if others + size > self._max_partials:
            raise DiskFull(
                f"{digest} ({size // MIB:,} MiB) must wait: partial downloads may hold "
                f"{self._max_partials // MIB:,} MiB in all, and {others // MIB:,} MiB are held",
                what="blob",
            )

    def sweep_partials(self, *, idle: float, now: float) -> Swept:
        """Remove partials nobody has written to for `idle` seconds before `now` (seconds
        since the epoch, as file times are); one being received (locked) is left alone.

        Raises:
            ConfigInvalid: the store is not open, or the folder cannot be read or changed.
        """
        self._require_open()
        count = freed = 0
        with _disk(f"list {self._partials}"):
            parts = sorted(self._partials.glob("*.part"))
        for part in parts:
            lock = part.with_suffix(".lock")
            with _disk(f"sweep {part.name}"):
                try:
                    if now - part.stat().st_mtime < idle:
                        continue
                    lock_fd = _lock(lock, "being received")
                except (FileNotFoundError, Conflict):
                    continue
                try:
                    # Asked again under the lock: a receive may have resumed it meanwhile.
                    stat = part.stat()
                    if now - stat.st_mtime < idle:
                        continue
                    part.unlink()
                    lock.unlink(missing_ok=True)
                except FileNotFoundError:
                    continue
                finally:
                    os.close(lock_fd)
            count += 1
            freed += stat.st_size
        if count:
            with _disk(f"sync {self._partials}"):
                _fsync_dir(self._partials)
        return Swept(count, freed)

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
        raw = _parse_digest(digest)
        self._require_open()
        part, _ = self._partial_paths(raw)
        with _disk(f"read the partial {digest}"):
            try:
                fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return 0
            try:
                opened = self._verify_partial_header(fd, raw, digest)
                chunks = _scan(fd, opened, None)
            finally:
                os.close(fd)
        return min(chunks * opened.layout.chunk_size, opened.layout.size)

    def discard_partial(self, digest: str) -> None:
        """Remove the partial receive of `digest`, if any.

        Raises:
            InputInvalid: `digest` is malformed.
            Conflict: a Partial for it is open (here or in another process).
            ConfigInvalid: the store is not open or the files cannot be removed.
        """
        raw = _parse_digest(digest)
        self._require_open()
        part, lock = self._partial_paths(raw)
        with _disk(f"discard the partial {digest}"):
            lock_fd = _lock(lock, f"{digest} is being received; close that Partial first")
            try:
                part.unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
                _fsync_dir(self._partials)
            finally:
                os.close(lock_fd)

    # -- internals ----------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._is_open:
            raise ConfigInvalid(f"the blob store at {self._root} is not open; call open_store()")

    def _name(self, raw: bytes) -> str:
        return hmac.new(self._name_key, raw, hashlib.sha256).hexdigest()

    def _blob_path(self, raw: bytes) -> Path:
        name = self._name(raw)
        return self._blobs / name[:2] / name

    def _partial_paths(self, raw: bytes) -> tuple[Path, Path]:
        name = self._name(raw)
        return self._partials / f"{name}.part", self._partials / f"{name}.lock"

    def _new_cipher(self) -> tuple[_Cipher, bytes]:
        data_key = AESGCM.generate_key(bit_length=256)
        return _Cipher(data_key, secrets.token_bytes(8)), aes_key_wrap(self._wrap_key, data_key)

    @contextlib.contextmanager
    def _blob_fd(self, raw: bytes, digest: str) -> Iterator[int]:
        try:
            fd = os.open(self._blob_path(raw), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {digest}") from exc
        try:
            yield fd
        finally:
            os.close(fd)

    def _verify_blob(self, fd: int, raw: bytes, digest: str) -> _Opened:
        opened = _open_header(_pread_exact(fd, HEADER_SIZE, 0), self._wrap_key, digest)
        if not hmac.compare_digest(opened.digest, raw):
            raise SignatureInvalid(f"{digest}: the file holds another blob")
        if os.fstat(fd).st_size != opened.layout.file_length:
            raise SignatureInvalid(f"{digest}: the stored file was truncated or extended")
        return opened

    def _verify_partial_header(self, fd: int, raw: bytes, digest: str) -> _Opened:
        label = f"partial {digest}"
        opened = _open_header(_pread_exact(fd, HEADER_SIZE, 0), self._wrap_key, label)
        if not hmac.compare_digest(opened.digest, raw):
            raise SignatureInvalid(f"{label}: the file holds another blob")
        return opened

    def _new_temp(self) -> tuple[int, Path]:
        """A fresh, flock-ed temporary file in tmp/ (so `open_store` never sweeps it)."""
        while True:
            path = self._tmp / f"{secrets.token_hex(16)}.tmp"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            if _try_flock(fd) and _same_file(fd, path):
                return fd, path
            os.close(fd)  # swept between creation and locking: take another name

    def _remove_if_abandoned(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            if _try_flock(fd) and _same_file(fd, path):
                path.unlink()
        finally:
            os.close(fd)

    def _create_partial(self, part: Path, raw: bytes, size: int) -> None:
        """Write a partial's header to a temporary file and rename it into place, so a crash
        never leaves a partial with a half-written header."""
        cipher, wrapped = self._new_cipher()
        header = _build_header(cipher, wrapped, self._chunk_size, size, raw)
        fd, tmp = self._new_temp()
        try:
            _write_all(fd, header)
            os.fsync(fd)
            os.replace(tmp, part)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        _fsync_dir(self._partials)

    def _resume(
        self, fd: int, lock_fd: int, part: Path, lock: Path, raw: bytes, digest: str, size: int
    ) -> Partial:
        with _disk(f"read the partial {digest}"):
            opened = self._verify_partial_header(fd, raw, digest)
            if opened.layout.size != size:
                raise Conflict(
                    f"{digest} is being received as {opened.layout.size} bytes, not {size}; "
                    "discard_partial() it to start over"
                )
            hasher = hashlib.sha256()
            chunks = _scan(fd, opened, hasher)
            layout = opened.layout
            end = layout.file_length if chunks == layout.count else layout.record_offset(chunks)
            if os.fstat(fd).st_size != end:
                os.ftruncate(fd, end)
                os.fsync(fd)
            os.lseek(fd, end, os.SEEK_SET)
        return Partial(self, fd, lock_fd, part, lock, raw, opened, chunks, hasher)

    def _install(self, source: Path, raw: bytes, size: int) -> BlobRef:
        """Rename a complete, fsynced file into blobs/ atomically; keep an existing copy."""
        ref = BlobRef(_format_digest(raw), size)
        target = self._blob_path(raw)
        if target.is_file():
            source.unlink()
            _fsync_dir(source.parent)
            return ref
        if not target.parent.is_dir():
            target.parent.mkdir(mode=0o700, exist_ok=True)
            _fsync_dir(self._blobs)
        os.replace(source, target)
        _fsync_dir(target.parent)
        _fsync_dir(source.parent)
        return ref


class BlobWriter:
    """An upload in progress; get one from `BlobStore.writer` and use it as a context manager.

    Plaintext is hashed as it arrives and encrypted a chunk at a time into a temporary file;
    the last chunk is held back until `commit`, which alone knows it is the last.
    """

    def __init__(self, store: BlobStore, fd: int, path: Path, max_size: int) -> None:
        """Called by `BlobStore.writer`. Raises nothing."""
        self._store = store
        self._fd: int | None = fd
        self._path = path
        self._max_size = max_size
        self._chunk_size = store.chunk_size
        self._cipher, self._wrapped = store._new_cipher()
        self._hasher = hashlib.sha256()
        self._buffer = bytearray(self._chunk_size)  # the held-back chunk, `_filled` bytes of it
        self._filled = 0
        self._size = 0
        self._index = 0
        self._ref: BlobRef | None = None
        # A writer dropped without commit or abort still closes its file when collected; the
        # temporary file is then swept by the next open_store().
        self._closer = weakref.finalize(self, _close_quietly, fd)

    @property
    def size(self) -> int:
        """Plaintext bytes written so far."""
        return self._size

    def write(self, data: _Data) -> None:
        """Append plaintext.

        Raises:
            BlobTooLarge: this would pass `max_size`; the upload is removed, the writer closed.
            Conflict: the writer was already committed or aborted.
            DiskFull: the bytes would take the reserve, or the disk is full; the upload is
                removed.
            ConfigInvalid: the disk refused the write otherwise; the upload is removed.
        """
        fd = self._require_open()
        view = memoryview(data).cast("B")
        if self._size + len(view) > self._max_size:
            self.abort()
            raise BlobTooLarge(f"the upload is larger than its limit of {self._max_size} bytes")
        if _chunk_count(self._size + len(view), self._chunk_size) > _MAX_CHUNKS:
            self.abort()
            raise BlobTooLarge("the upload is too large for one blob")
        try:
            self._store.claim("upload", len(view))
        except DiskFull:
            self.abort()
            raise
        self._hasher.update(view)
        self._size += len(view)
        try:
            self._feed(fd, view)
        except OSError as exc:
            self.abort()
            raise _os_error(exc, "write an upload", what="upload") from exc

    def _feed(self, fd: int, view: memoryview) -> None:
        # A chunk goes out only once a byte after it has arrived: until then it may be the last.
        size = self._chunk_size
        pos = 0
        while pos < len(view):
            if self._filled == size:
                self._emit(fd, self._buffer, last=False)
                self._filled = 0
            if not self._filled and len(view) - pos > size:
                self._emit(fd, view[pos : pos + size], last=False)
                pos += size
                continue
            take = min(size - self._filled, len(view) - pos)
            self._buffer[self._filled : self._filled + take] = view[pos : pos + take]
            self._filled += take
            pos += take

    def _emit(self, fd: int, plain: _Data, *, last: bool) -> None:
        _write_all(fd, self._cipher.seal_chunk(self._index, plain, last))
        self._index += 1

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
            self._emit(fd, memoryview(self._buffer)[: self._filled], last=True)
            self._filled = 0
            raw = self._hasher.digest()
            header = _build_header(self._cipher, self._wrapped, self._chunk_size, self._size, raw)
            _pwrite_all(fd, header, 0)
            os.fsync(fd)
            self._ref = self._store._install(self._path, raw, self._size)
        except OSError as exc:
            self.abort()
            raise _os_error(exc, "commit an upload", what="upload") from exc
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
        self._buffer = bytearray()
        self._filled = 0
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
        store: BlobStore,
        fd: int,
        lock_fd: int,
        part: Path,
        lock: Path,
        raw: bytes,
        opened: _Opened,
        chunks: int,
        hasher: hashlib._Hash,
    ) -> None:
        """Called by `BlobStore.partial`. Raises nothing."""
        self._store = store
        self._fd: int | None = fd
        self._part = part
        self._lock = lock
        self._raw = raw
        self._layout = opened.layout
        self._cipher = opened.cipher
        self._index = chunks
        self._hasher = hasher
        self._buffer = bytearray(min(self._layout.chunk_size, self._layout.size))
        self._filled = 0  # bytes of the next chunk held in `_buffer`
        self._offset = min(chunks * self._layout.chunk_size, self._layout.size)
        self._unsynced = 0
        # A Partial dropped without close() still releases its lock when collected (without
        # an fsync); calling the finalizer is the one way its descriptors are closed.
        self._closer = weakref.finalize(self, _close_quietly, fd, lock_fd)

    @property
    def digest(self) -> str:
        """The announced address, ``sha256:<hex>``."""
        return _format_digest(self._raw)

    @property
    def size(self) -> int:
        """The announced plaintext size in bytes."""
        return self._layout.size

    @property
    def offset(self) -> int:
        """Plaintext bytes received so far: the next `append` continues here."""
        return self._offset

    def append(self, data: _Data) -> None:
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
        self._store.claim("blob", len(view))
        self._hasher.update(view)
        self._offset += len(view)
        try:
            self._feed(fd, view)
            if self._unsynced >= _SYNC_EVERY:
                os.fsync(fd)
                self._unsynced = 0
        except OSError as exc:
            self._release(unlink_lock=False)
            raise _os_error(exc, f"write {self.digest}") from exc

    def _feed(self, fd: int, view: memoryview) -> None:
        # Chunk lengths are known in advance, so each goes out as soon as it is full.
        pos = 0
        while pos < len(view):
            want = self._layout.plain_length(self._index)
            if not self._filled and len(view) - pos >= want:
                self._emit(fd, view[pos : pos + want])
                pos += want
                continue
            take = min(want - self._filled, len(view) - pos)
            self._buffer[self._filled : self._filled + take] = view[pos : pos + take]
            self._filled += take
            pos += take
            if self._filled == want:
                self._emit(fd, memoryview(self._buffer)[:want])
                self._filled = 0

    def _emit(self, fd: int, plain: _Data) -> None:
        last = self._index == self._layout.count - 1
        record = self._cipher.seal_chunk(self._index, plain, last)
        _write_all(fd, record)
        self._unsynced += len(record)
        self._index += 1

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
            raise _os_error(exc, f"sync {self.digest}") from exc
        self._unsynced = 0
        return min(self._index * self._layout.chunk_size, self.size)

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
            if self._index < self._layout.count:  # only an empty blob gets here
                self._emit(fd, b"")
            os.fsync(fd)
            ref = self._store._install(self._part, self._raw, self.size)
        except OSError as exc:
            self._release(unlink_lock=False)
            raise _os_error(exc, f"complete {self.digest}") from exc
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
            with _disk(f"discard the partial {self.digest}"):
                self._part.unlink(missing_ok=True)
                _fsync_dir(self._part.parent)
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
            with _disk(f"sync {self.digest}"):
                os.fsync(self._fd)
        finally:
            self._release(unlink_lock=False)

    def _release(self, *, unlink_lock: bool) -> None:
        if self._fd is None:
            return
        if unlink_lock:  # while still holding it: see _lock
            with contextlib.suppress(OSError):
                self._lock.unlink()
        self._fd = None
        self._closer()
        self._buffer = bytearray()
        self._filled = 0

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
