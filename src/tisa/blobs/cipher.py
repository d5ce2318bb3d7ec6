"""AES-256-GCM under one blob's data key, and the keys a store derives from its KEK.

The node's key-encryption key (KEK, 32 random bytes) never touches data directly. Two keys are
derived from it with HKDF-SHA256 (`derive_key`): a wrapping key and a file-name key. Each blob
gets a fresh random 256-bit data key (`new_cipher`), wrapped with AES key wrap (RFC 3394, which
carries its own integrity check); `unwrap_cipher` takes it back out of a header.

Under the data key, `ChunkCipher` seals each chunk with the nonce ``prefix || uint32 index`` and
the associated data ``b"tisa-blob-chunk-v1" || uint32 index || uint8 last``, and the blob's
digest with the nonce ``prefix || FFFFFFFF`` (bound to the header fields as associated data).
So chunk indexes run from 0 to 2**32 - 2 at most (`MAX_CHUNKS` chunks in a blob).

Pure: no I/O. Failures to open are the library's own exceptions (`InvalidTag`, `InvalidUnwrap`);
the callers, which know which file they were reading, translate them to `SignatureInvalid`.
"""

from __future__ import annotations

import secrets
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

KEY_SIZE: Final = 32
"""Bytes in a key-encryption key (and in every key derived from it)."""
TAG_SIZE: Final = 16
"""Bytes of GCM tag after each sealed chunk and after the sealed digest."""
PREFIX_SIZE: Final = 8
"""Bytes of random nonce prefix per blob."""
WRAPPED_SIZE: Final = KEY_SIZE + 8
"""Bytes of a data key after RFC 3394 key wrap."""
MAX_CHUNKS: Final = 0xFFFFFFFF
"""Chunks in one blob at most: counters 0 .. 2**32 - 2; the top value seals the digest."""

_SEAL_COUNTER: Final = 0xFFFFFFFF
_CHUNK_LABEL: Final = b"tisa-blob-chunk-v1"

Plaintext = bytes | bytearray | memoryview


def derive_key(kek: bytes, purpose: bytes) -> bytes:
    """The 32-byte key for `purpose` ("data-key wrapping", "file names") derived from `kek`.

    Raises nothing for a 32-byte `kek`.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tisa-blobs-v1 " + purpose)
    return hkdf.derive(kek)


class ChunkCipher:
    """AES-256-GCM under one blob's data key, with that blob's nonce prefix."""

    def __init__(self, data_key: bytes, prefix: bytes) -> None:
        """Raises nothing for a 32-byte `data_key`."""
        self._aead = AESGCM(data_key)
        self.prefix = prefix

    def _nonce(self, counter: int) -> bytes:
        return self.prefix + counter.to_bytes(4, "big")

    @staticmethod
    def _aad(index: int, last: bool) -> bytes:
        return _CHUNK_LABEL + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

    def seal_chunk(self, index: int, plain: Plaintext, last: bool) -> bytes:
        """Chunk `index` of the blob, sealed: ciphertext and tag. Raises nothing."""
        return self._aead.encrypt(self._nonce(index), plain, self._aad(index, last))

    def open_chunk(self, index: int, record: bytes, last: bool) -> bytes:
        """The plaintext of chunk `index`, sealed as `record`.

        Raises:
            InvalidTag: the record was altered, is another chunk or another blob's, or `last`
                is not what it was sealed with.
        """
        return self._aead.decrypt(self._nonce(index), record, self._aad(index, last))

    def seal_digest(self, fields: bytes, digest: bytes) -> bytes:
        """`digest` sealed, bound to the header `fields`. Raises nothing."""
        return self._aead.encrypt(self._nonce(_SEAL_COUNTER), digest, fields)

    def open_digest(self, fields: bytes, sealed: bytes) -> bytes:
        """The digest sealed by `seal_digest`.

        Raises:
            InvalidTag: `sealed` or `fields` were altered.
        """
        return self._aead.decrypt(self._nonce(_SEAL_COUNTER), sealed, fields)


def new_cipher(wrap_key: bytes) -> tuple[ChunkCipher, bytes]:
    """A cipher under a fresh data key and nonce prefix, and that data key wrapped with
    `wrap_key` (for the header). Raises nothing."""
    data_key = AESGCM.generate_key(bit_length=256)
    return ChunkCipher(data_key, secrets.token_bytes(PREFIX_SIZE)), aes_key_wrap(wrap_key, data_key)


def unwrap_cipher(wrap_key: bytes, wrapped: bytes, prefix: bytes) -> ChunkCipher:
    """The cipher of a blob whose header holds `wrapped` and `prefix`.

    Raises:
        InvalidUnwrap: `wrapped` was made under another wrapping key, or was altered.
        ValueError: `wrapped` has the wrong length.
    """
    return ChunkCipher(aes_key_unwrap(wrap_key, wrapped), prefix)
