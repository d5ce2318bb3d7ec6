"""The blob file format: blob addresses, the header, and where each chunk record lies.

A blob is named by the SHA-256 of its plaintext, written ``sha256:<64 lowercase hex>``
(`parse_digest`, `format_digest`).

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

Pure: bytes in, bytes out. The sealing itself is `tisa.blobs.cipher`'s.
"""

from __future__ import annotations

import hmac
import re
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from tisa.blobs.cipher import (
    MAX_CHUNKS,
    PREFIX_SIZE,
    TAG_SIZE,
    WRAPPED_SIZE,
    ChunkCipher,
    unwrap_cipher,
)
from tisa.errors import InputInvalid, SignatureInvalid

MAGIC: Final = b"TISABLOB"
FORMAT_VERSION: Final = 1
DEFAULT_CHUNK_SIZE: Final = 1 << 20
MIN_CHUNK_SIZE: Final = 16
MAX_CHUNK_SIZE: Final = 1 << 24

_FIELDS: Final = struct.Struct(f">8sBIQ{PREFIX_SIZE}s{WRAPPED_SIZE}s")
_SEALED_DIGEST_SIZE: Final = 32 + TAG_SIZE  # a SHA-256, sealed
HEADER_SIZE: Final = _FIELDS.size + _SEALED_DIGEST_SIZE
_DIGEST: Final = re.compile(r"sha256:([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its address (``sha256:<hex>``) and its plaintext size in bytes."""

    digest: str
    size: int


def parse_digest(digest: str) -> bytes:
    """The 32 raw bytes of ``sha256:<hex>``.

    Raises:
        InputInvalid: `digest` is anything else.
    """
    match = _DIGEST.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InputInvalid(f"not a blob address (sha256:<64 lowercase hex>): {digest!r}")
    return bytes.fromhex(match.group(1))


def format_digest(raw: bytes) -> str:
    """``sha256:<hex>`` of 32 raw bytes. Raises nothing."""
    return "sha256:" + raw.hex()


def chunk_count(size: int, chunk_size: int) -> int:
    """Chunk records in a blob of `size` bytes: at least one, the last maybe short or empty."""
    return max(1, -(-size // chunk_size))


class Layout:
    """Where each chunk of a blob of `size` bytes in `chunk_size` chunks lies."""

    def __init__(self, chunk_size: int, size: int) -> None:
        """Raises nothing."""
        self.chunk_size = chunk_size
        self.size = size
        self.count = chunk_count(size, chunk_size)
        self.file_length = HEADER_SIZE + size + self.count * TAG_SIZE

    def plain_length(self, index: int) -> int:
        """Plaintext bytes in chunk `index`."""
        if index < self.count - 1:
            return self.chunk_size
        return self.size - (self.count - 1) * self.chunk_size

    def record_offset(self, index: int) -> int:
        """Where chunk `index`'s record starts in the file."""
        return HEADER_SIZE + index * (self.chunk_size + TAG_SIZE)


@dataclass(frozen=True)
class Header:
    """A header that verified: the blob's digest, layout and cipher."""

    digest: bytes
    layout: Layout
    cipher: ChunkCipher


def build_header(
    cipher: ChunkCipher, wrapped: bytes, chunk_size: int, size: int, digest: bytes
) -> bytes:
    """The header of a blob sealed with `cipher`, whose data key wraps to `wrapped`."""
    fields = _FIELDS.pack(MAGIC, FORMAT_VERSION, chunk_size, size, cipher.prefix, wrapped)
    return fields + cipher.seal_digest(fields, digest)


def open_header(
    header: bytes, wrap_key: bytes, label: str, *, expected: bytes | None = None
) -> Header:
    """Check and decrypt a header (the first `HEADER_SIZE` bytes of a file); with `expected`,
    it must also be the header of that digest's blob.

    Raises:
        SignatureInvalid: naming `label`: not a blob header, another format version, another
            key-encryption key, altered, out-of-range sizes, or another blob than `expected`.
    """
    if len(header) < HEADER_SIZE:
        raise SignatureInvalid(f"{label}: the file is shorter than a blob header")
    fields = header[: _FIELDS.size]
    magic, version, chunk_size, size, prefix, wrapped = _FIELDS.unpack(fields)
    if magic != MAGIC:
        raise SignatureInvalid(f"{label}: not a tisa blob file")
    if version != FORMAT_VERSION:
        raise SignatureInvalid(f"{label}: blob format version {version} is not supported")
    try:
        cipher = unwrap_cipher(wrap_key, wrapped, prefix)
    except (InvalidUnwrap, ValueError) as exc:
        raise SignatureInvalid(
            f"{label}: the data key does not unwrap (another key-encryption key, "
            "or the header was altered)"
        ) from exc
    try:
        digest = cipher.open_digest(fields, header[_FIELDS.size : HEADER_SIZE])
    except InvalidTag as exc:
        raise SignatureInvalid(f"{label}: the header does not verify; it was altered") from exc
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise SignatureInvalid(f"{label}: chunk size {chunk_size} is out of range")
    layout = Layout(chunk_size, size)
    if layout.count > MAX_CHUNKS:
        raise SignatureInvalid(f"{label}: {size} bytes in {chunk_size}-byte chunks is too many")
    if expected is not None and not hmac.compare_digest(digest, expected):
        raise SignatureInvalid(f"{label}: the file holds another blob")
    return Header(digest, layout, cipher)
