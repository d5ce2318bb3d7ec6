"""The one chunker: which records go out when, sealed as which chunk; and any split of the same
content gives the same blob, through a writer or a resumed receive."""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from blob_factories import digest_of, read_all
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.blobs.chunker import Chunker, open_chunks
from tisa.blobs.cipher import TAG_SIZE, ChunkCipher, new_cipher
from tisa.blobs.format import HEADER_SIZE, BlobRef, Header, Layout, build_header, open_header
from tisa.blobs.store import BlobStore
from tisa.errors import SignatureInvalid

SIZE = 16  # plaintext bytes per chunk in these tests


@pytest.fixture
def cipher() -> ChunkCipher:
    return ChunkCipher(os.urandom(32), os.urandom(8))


def opened(cipher: ChunkCipher, records: list[bytes], *, start: int = 0) -> list[bytes]:
    """The plaintext of `records`, chunks `start`.. of a blob whose last chunk is the last."""
    last = start + len(records) - 1
    return [
        cipher.open_chunk(index, record, index == last)
        for index, record in enumerate(records, start)
    ]


# -- size not known in advance (an upload) --------------------------------------------------


def test_a_full_chunk_waits_for_the_next_byte(cipher: ChunkCipher) -> None:
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append)
    chunker.write(b"a" * SIZE)
    assert records == []  # it may still be the last
    chunker.write(b"b")
    assert len(records) == 1
    assert cipher.open_chunk(0, records[0], last=False) == b"a" * SIZE
    assert chunker.index == 1


def test_finish_seals_the_last_short_chunk_as_last(cipher: ChunkCipher) -> None:
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append)
    chunker.write(b"x" * (2 * SIZE + 5))
    assert len(records) == 2
    chunker.finish()
    assert [len(r) for r in records] == [SIZE + TAG_SIZE, SIZE + TAG_SIZE, 5 + TAG_SIZE]
    assert b"".join(opened(cipher, records)) == b"x" * (2 * SIZE + 5)
    with pytest.raises(InvalidTag):
        cipher.open_chunk(2, records[2], last=False)


def test_finish_seals_a_held_full_chunk_as_last(cipher: ChunkCipher) -> None:
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append)
    chunker.write(b"y" * (2 * SIZE))
    chunker.finish()
    assert opened(cipher, records) == [b"y" * SIZE, b"y" * SIZE]


def test_an_empty_upload_is_one_empty_last_chunk(cipher: ChunkCipher) -> None:
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append)
    chunker.write(b"")
    chunker.finish()
    assert [len(r) for r in records] == [TAG_SIZE]
    assert cipher.open_chunk(0, records[0], last=True) == b""


# -- size announced (a receive) -------------------------------------------------------------


def test_with_the_size_announced_each_chunk_goes_out_when_full(cipher: ChunkCipher) -> None:
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append, size=2 * SIZE + 3)
    chunker.write(b"z" * SIZE)
    assert len(records) == 1  # not held back: it is known not to be the last
    chunker.write(b"z" * (SIZE + 2))
    assert len(records) == 2
    chunker.write(b"z")  # the short last chunk is full at 3 bytes
    assert len(records) == 3
    chunker.finish()  # nothing left to seal
    assert b"".join(opened(cipher, records)) == b"z" * (2 * SIZE + 3)


def test_an_announced_empty_blob_is_sealed_by_finish(cipher: ChunkCipher) -> None:
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append, size=0)
    chunker.finish()
    assert opened(cipher, records) == [b""]


def test_a_resumed_chunker_seals_from_its_index(cipher: ChunkCipher) -> None:
    content = os.urandom(4 * SIZE + 1)
    records: list[bytes] = []
    Chunker(cipher, SIZE, records.append, size=len(content)).write(content[: 2 * SIZE])
    resumed = Chunker(cipher, SIZE, records.append, size=len(content), index=2)
    resumed.write(content[2 * SIZE :])
    assert resumed.index == Layout(SIZE, len(content)).count == 5
    assert b"".join(opened(cipher, records)) == content


@settings(max_examples=60, deadline=None)
@given(
    content=st.binary(max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10),
    announced=st.booleans(),
)
def test_any_split_gives_the_same_records(content: bytes, cuts: list[int], announced: bool) -> None:
    cipher = ChunkCipher(b"k" * 32, b"p" * 8)
    size = len(content) if announced else None
    whole: list[bytes] = []
    one = Chunker(cipher, SIZE, whole.append, size=size)
    one.write(content)
    one.finish()
    pieces: list[bytes] = []
    split = Chunker(cipher, SIZE, pieces.append, size=size)
    bounds = sorted({0, len(content), *(c for c in cuts if c < len(content))})
    for start, end in itertools.pairwise(bounds):
        split.write(memoryview(content)[start:end])
    split.finish()
    assert pieces == whole
    assert len(whole) == Layout(SIZE, len(content)).count
    assert b"".join(opened(cipher, whole)) == content


# -- opening ------------------------------------------------------------------------------


def sealed_file(content: bytes) -> tuple[bytes, Header]:
    """A blob file of `content` in SIZE-byte chunks, and its opened header."""
    wrap_key = os.urandom(32)
    cipher, wrapped = new_cipher(wrap_key)
    digest = hashlib.sha256(content).digest()
    header = build_header(cipher, wrapped, SIZE, len(content), digest)
    records: list[bytes] = []
    chunker = Chunker(cipher, SIZE, records.append)
    chunker.write(content)
    chunker.finish()
    return header + b"".join(records), open_header(header, wrap_key, "test")


def reader(data: bytes) -> Callable[[int, int], bytes]:
    return lambda length, offset: data[offset : offset + length]


def test_open_chunks_yields_each_chunk_from_start() -> None:
    content = os.urandom(3 * SIZE + 2)
    data, header = sealed_file(content)
    assert b"".join(open_chunks(reader(data), header, "x")) == content
    assert list(open_chunks(reader(data), header, "x", start=3)) == [content[3 * SIZE :]]


def test_open_chunks_stops_at_a_truncated_or_altered_record() -> None:
    content = os.urandom(3 * SIZE)
    data, header = sealed_file(content)
    chunks = open_chunks(reader(data[:-1]), header, "blob x")
    assert next(chunks) + next(chunks) == content[: 2 * SIZE]
    with pytest.raises(SignatureInvalid, match=r"^blob x: the stored file was truncated"):
        next(chunks)
    altered = bytearray(data)
    altered[HEADER_SIZE + SIZE + TAG_SIZE] ^= 1  # the second record's first byte
    chunks = open_chunks(reader(bytes(altered)), header, "blob x")
    assert next(chunks) == content[:SIZE]
    with pytest.raises(SignatureInvalid, match=r"^blob x: chunk 1 does not verify"):
        next(chunks)


# -- properties -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    content=st.binary(max_size=400),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    restarts=st.lists(st.booleans(), max_size=13),
)
def test_any_append_sizes_reassemble(content: bytes, cuts: list[int], restarts: list[bool]) -> None:
    digest = digest_of(content)
    bounds = sorted({0, len(content), *(c for c in cuts if c < len(content))})
    with (
        tempfile.TemporaryDirectory() as tmp,
        BlobStore(Path(tmp), b"k" * 32, chunk_size=16) as store,
    ):
        # Receive, closing and reopening (a restart) at the given points; resend from offset.
        partial = store.partial(digest, len(content))
        for piece, (start, end) in enumerate(itertools.pairwise(bounds)):
            if piece < len(restarts) and restarts[piece]:
                partial.close()
                partial = store.partial(digest, len(content))
                assert partial.offset == start // 16 * 16
                partial.append(content[partial.offset : start])
            partial.append(content[start:end])
        ref = partial.complete()
        assert ref == BlobRef(digest, len(content))
        assert read_all(store, digest) == content
        # The same pieces through a writer give the same blob.
        with store.writer(max_size=len(content)) as writer:
            for start, end in itertools.pairwise(bounds):
                writer.write(content[start:end])
            assert writer.commit() == ref
        assert list(store.iter_digests()) == [digest]
