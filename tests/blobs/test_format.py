"""The file format's guarantees, seen through the store: every alteration of a stored file is
detected (flipped bytes, truncation, extension, moved chunks, a blob under another name)."""

from __future__ import annotations

import pytest
from blob_factories import (
    CHUNK,
    RECORD,
    pattern,
    put,
    read_all,
)

from tisa.blobs.format import HEADER_SIZE
from tisa.blobs.store import BlobStore
from tisa.errors import (
    SignatureInvalid,
)

# -- tampering ------------------------------------------------------------------------------------


def test_every_flipped_byte_is_detected(store: BlobStore) -> None:
    data = pattern(2 * CHUNK + 9)
    ref, path = put(store, data)
    original = path.read_bytes()
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        path.write_bytes(tampered)
        with pytest.raises(SignatureInvalid, match=ref.digest):
            read_all(store, ref.digest)
    path.write_bytes(original)
    assert read_all(store, ref.digest) == data


@pytest.mark.parametrize(
    "cut",
    [1, 16, RECORD, 2 * RECORD, "to header", "to nothing"],
)
def test_truncation_is_detected(store: BlobStore, cut: int | str) -> None:
    data = pattern(3 * CHUNK)
    ref, path = put(store, data)
    content = path.read_bytes()
    if cut == "to header":
        content = content[:HEADER_SIZE]
    elif cut == "to nothing":
        content = b""
    else:
        assert isinstance(cut, int)
        content = content[:-cut]
    path.write_bytes(content)
    with pytest.raises(SignatureInvalid):
        read_all(store, ref.digest)


def test_extension_is_detected(store: BlobStore) -> None:
    ref, path = put(store, pattern(3 * CHUNK))
    with path.open("ab") as f:
        f.write(b"\0" * RECORD)
    with pytest.raises(SignatureInvalid, match="truncated or extended"):
        read_all(store, ref.digest)


def test_dropping_the_last_chunk_is_detected_even_at_a_chunk_boundary(store: BlobStore) -> None:
    data = pattern(3 * CHUNK)
    ref, path = put(store, data)
    path.write_bytes(path.read_bytes()[:-RECORD])
    with pytest.raises(SignatureInvalid):
        read_all(store, ref.digest)


def test_swapped_chunks_are_detected(store: BlobStore) -> None:
    data = pattern(3 * CHUNK)
    ref, path = put(store, data)
    content = bytearray(path.read_bytes())
    first = slice(HEADER_SIZE, HEADER_SIZE + RECORD)
    second = slice(HEADER_SIZE + RECORD, HEADER_SIZE + 2 * RECORD)
    content[first], content[second] = content[second], content[first]
    path.write_bytes(content)
    with pytest.raises(SignatureInvalid, match="chunk 0"):
        read_all(store, ref.digest)


def test_chunk_from_another_blob_is_detected(store: BlobStore) -> None:
    ref_a, path_a = put(store, pattern(3 * CHUNK, seed=1))
    _, path_b = put(store, pattern(3 * CHUNK, seed=2))
    content = bytearray(path_a.read_bytes())
    chunk = slice(HEADER_SIZE + RECORD, HEADER_SIZE + 2 * RECORD)
    content[chunk] = path_b.read_bytes()[chunk]
    path_a.write_bytes(content)
    with pytest.raises(SignatureInvalid, match="chunk 1"):
        read_all(store, ref_a.digest)


def test_a_blob_under_another_name_is_detected(store: BlobStore) -> None:
    ref_a, path_a = put(store, pattern(100, seed=1))
    _, path_b = put(store, pattern(100, seed=2))
    path_a.write_bytes(path_b.read_bytes())
    with pytest.raises(SignatureInvalid, match="another blob"):
        store.open(ref_a.digest)
    with pytest.raises(SignatureInvalid, match="another blob"):
        list(store.iter_digests())
