"""The file format: addresses, the header, the chunk layout; a blob written before the modules
were split still opens; and, through the store, every alteration of a stored file is detected
(flipped bytes, truncation, extension, moved chunks, a blob under another name)."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
from blob_factories import CHUNK, RECORD, pattern, put, read_all

from tisa.blobs.cipher import derive_key, new_cipher
from tisa.blobs.folders import Folders
from tisa.blobs.format import (
    HEADER_SIZE,
    Layout,
    build_header,
    chunk_count,
    format_digest,
    open_header,
    parse_digest,
)
from tisa.blobs.store import BlobStore
from tisa.errors import InputInvalid, SignatureInvalid

# -- addresses, header, layout --------------------------------------------------------------


def test_addresses_parse_and_format() -> None:
    raw = hashlib.sha256(b"x").digest()
    assert parse_digest(format_digest(raw)) == raw
    assert format_digest(raw) == "sha256:" + raw.hex()
    good = format_digest(raw)
    for bad in [good.upper(), good[7:], good + "0", "sha1:" + "0" * 40, "", None, 42]:
        with pytest.raises(InputInvalid, match="not a blob address"):
            parse_digest(bad)  # type: ignore[arg-type]


def test_the_layout_of_a_blob() -> None:
    assert HEADER_SIZE == 117
    assert [chunk_count(n, 16) for n in (0, 1, 16, 17, 32, 33)] == [1, 1, 1, 2, 2, 3]
    layout = Layout(16, 33)
    assert [layout.plain_length(i) for i in range(layout.count)] == [16, 16, 1]
    assert [layout.record_offset(i) for i in range(layout.count)] == [117, 149, 181]
    assert layout.file_length == 117 + 33 + 3 * 16
    empty = Layout(16, 0)
    assert (empty.count, empty.plain_length(0), empty.file_length) == (1, 0, 117 + 16)


def test_a_header_opens_to_what_was_sealed_in_it() -> None:
    wrap_key, digest = os.urandom(32), os.urandom(32)
    cipher, wrapped = new_cipher(wrap_key)
    header = build_header(cipher, wrapped, 64, 1000, digest)
    assert len(header) == HEADER_SIZE
    assert header.startswith(b"TISABLOB\x01")
    opened = open_header(header, wrap_key, "label", expected=digest)
    assert opened.digest == digest
    assert (opened.layout.chunk_size, opened.layout.size) == (64, 1000)
    record = cipher.seal_chunk(0, b"chunk", last=False)
    assert opened.cipher.open_chunk(0, record, last=False) == b"chunk"


def test_a_header_that_is_not_right_is_refused() -> None:
    wrap_key, digest = os.urandom(32), os.urandom(32)
    cipher, wrapped = new_cipher(wrap_key)
    header = build_header(cipher, wrapped, 64, 1000, digest)

    def refused(data: bytes, match: str, key: bytes = wrap_key) -> None:
        with pytest.raises(SignatureInvalid, match=f"^label: .*{match}"):
            open_header(data, key, "label", expected=digest)

    refused(header[:-1], "shorter than a blob header")
    refused(b"NOTABLOB" + header[8:], "not a tisa blob file")
    refused(header[:8] + b"\x02" + header[9:], "version 2 is not supported")
    refused(header, "does not unwrap", key=os.urandom(32))
    refused(header[:13] + struct.pack(">Q", 1001) + header[21:], "does not verify; it was altered")
    for bad_size in (15, (1 << 24) + 1):
        refused(build_header(cipher, wrapped, bad_size, 1000, digest), "out of range")
    refused(build_header(cipher, wrapped, 16, 16 << 32, digest), "is too many")
    refused(build_header(cipher, wrapped, 64, 1000, os.urandom(32)), "holds another blob")


# A blob of format version 1 as the code before the split into modules wrote it: 100 bytes in
# 32-byte chunks under the KEK bytes(range(32)). The format must keep opening it.
GOLDEN_KEK = bytes(range(32))
GOLDEN_CONTENT = b"TISA golden blob, format 1: " + pattern(72, 42)
GOLDEN_FILE = bytes.fromhex(
    "54495341424c4f42010000002000000000000000647de4e9b677227eb2c982d267e2114da7af0c2d3a54cea5"
    "e41517cee148a4390a4748ddff6e66e4f6ef684db04a05295dccb2c0bbdeaaeedd6acae0b8bdeec0964e7985"
    "2a150af49318182746cdd176cebb20e613eaf8cceb4b120d84fd56f49c0fa35ceeee94524b17d938cf5cf2ed"
    "6868c875f039246855f5a2ea712bb11724ce38cde05a122f5740a3219566559797f8b19cec1a9e7d1877c355"
    "fa07ea020ff57034d03e584db5956882d0d9bc4642d6bafd417e53925f92b997d9a39025184e76d3499da0a7"
    "53fac6990bf66d7c6d77bf7891a58ddc72aeff4f5c5c37357833412c99c1692e0efec210601d92933da3b95d"
    "645a942972199db75fcb09bd77467f56d3"
)


def test_a_blob_written_before_the_split_still_opens(tmp_path: Path) -> None:
    digest = "sha256:" + hashlib.sha256(GOLDEN_CONTENT).hexdigest()
    with BlobStore(tmp_path, GOLDEN_KEK, chunk_size=CHUNK) as store:
        folders = Folders(tmp_path, derive_key(GOLDEN_KEK, b"file names"))
        path = folders.blob_path(parse_digest(digest))
        path.parent.mkdir()
        path.write_bytes(GOLDEN_FILE)
        assert store.has(digest)
        assert store.size(digest) == 100
        assert read_all(store, digest) == GOLDEN_CONTENT
        assert read_all(store, digest, 40) == GOLDEN_CONTENT[40:]
        assert list(store.iter_digests()) == [digest]


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
