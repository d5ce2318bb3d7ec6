"""AES-256-GCM per chunk: a record opens only as the chunk it was sealed as, under its key."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from tisa.blobs.cipher import (
    KEY_SIZE,
    PREFIX_SIZE,
    TAG_SIZE,
    WRAPPED_SIZE,
    ChunkCipher,
    derive_key,
    new_cipher,
    unwrap_cipher,
)


@pytest.fixture
def cipher() -> ChunkCipher:
    return ChunkCipher(os.urandom(KEY_SIZE), os.urandom(PREFIX_SIZE))


def test_a_sealed_chunk_opens_to_its_plaintext(cipher: ChunkCipher) -> None:
    for plain in (b"", b"x", b"chunk of plaintext" * 10):
        record = cipher.seal_chunk(7, plain, last=False)
        assert len(record) == len(plain) + TAG_SIZE
        assert cipher.open_chunk(7, record, last=False) == plain


def test_every_tampered_byte_fails(cipher: ChunkCipher) -> None:
    record = cipher.seal_chunk(0, b"launch window 0400Z", last=True)
    for position in range(len(record)):
        tampered = bytearray(record)
        tampered[position] ^= 0x01
        with pytest.raises(InvalidTag):
            cipher.open_chunk(0, bytes(tampered), last=True)
    with pytest.raises(InvalidTag):
        cipher.open_chunk(0, record[:-1], last=True)


def test_another_key_or_nonce_prefix_fails() -> None:
    key, prefix = os.urandom(KEY_SIZE), os.urandom(PREFIX_SIZE)
    record = ChunkCipher(key, prefix).seal_chunk(0, b"plaintext", last=False)
    assert ChunkCipher(key, prefix).open_chunk(0, record, last=False) == b"plaintext"
    with pytest.raises(InvalidTag):
        ChunkCipher(os.urandom(KEY_SIZE), prefix).open_chunk(0, record, last=False)
    with pytest.raises(InvalidTag):
        ChunkCipher(key, os.urandom(PREFIX_SIZE)).open_chunk(0, record, last=False)


def test_a_chunk_opens_only_at_its_index_and_lastness(cipher: ChunkCipher) -> None:
    record = cipher.seal_chunk(2, b"the third chunk", last=False)
    with pytest.raises(InvalidTag):
        cipher.open_chunk(1, record, last=False)
    with pytest.raises(InvalidTag):
        cipher.open_chunk(2, record, last=True)
    assert cipher.open_chunk(2, record, last=False) == b"the third chunk"


def test_the_sealed_digest_is_bound_to_the_header_fields(cipher: ChunkCipher) -> None:
    digest = os.urandom(32)
    sealed = cipher.seal_digest(b"header fields", digest)
    assert len(sealed) == 32 + TAG_SIZE
    assert cipher.open_digest(b"header fields", sealed) == digest
    with pytest.raises(InvalidTag):
        cipher.open_digest(b"header fieldz", sealed)


def test_the_sealed_digest_never_opens_as_a_chunk(cipher: ChunkCipher) -> None:
    sealed = cipher.seal_digest(b"", os.urandom(32))
    with pytest.raises(InvalidTag):
        cipher.open_chunk(0xFFFFFFFF, sealed, last=True)


def test_a_data_key_unwraps_only_with_its_wrapping_key() -> None:
    wrap_key = os.urandom(KEY_SIZE)
    sealer, wrapped = new_cipher(wrap_key)
    assert len(wrapped) == WRAPPED_SIZE
    assert len(sealer.prefix) == PREFIX_SIZE
    record = sealer.seal_chunk(0, b"plaintext", last=True)
    opener = unwrap_cipher(wrap_key, wrapped, sealer.prefix)
    assert opener.open_chunk(0, record, last=True) == b"plaintext"
    with pytest.raises(InvalidUnwrap):
        unwrap_cipher(os.urandom(KEY_SIZE), wrapped, sealer.prefix)
    with pytest.raises(InvalidUnwrap):
        unwrap_cipher(wrap_key, bytes([wrapped[0] ^ 1]) + wrapped[1:], sealer.prefix)


def test_every_blob_gets_its_own_data_key_and_prefix() -> None:
    wrap_key = os.urandom(KEY_SIZE)
    (first, first_wrapped), (second, second_wrapped) = new_cipher(wrap_key), new_cipher(wrap_key)
    assert first.prefix != second.prefix
    assert first_wrapped != second_wrapped


def test_derived_keys_depend_on_the_kek_and_the_purpose() -> None:
    kek = os.urandom(KEY_SIZE)
    wrapping = derive_key(kek, b"data-key wrapping")
    assert len(wrapping) == KEY_SIZE
    assert derive_key(kek, b"data-key wrapping") == wrapping
    assert derive_key(kek, b"file names") != wrapping
    assert derive_key(os.urandom(KEY_SIZE), b"data-key wrapping") != wrapping
