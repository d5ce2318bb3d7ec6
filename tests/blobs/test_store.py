"""BlobStore: reading, querying, deleting; nothing readable at rest; its arguments and keys.

The memory test runs a 300 MB stream in a fresh process, so that its peak RSS says something.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from blob_factories import CHUNK, MARKER, RECORD, digest_of, files_under, pattern, put, read_all

from tisa.blobs.format import HEADER_SIZE
from tisa.blobs.store import BlobStore
from tisa.errors import ConfigInvalid, InputInvalid, NotFound, SignatureInvalid

# -- reading --------------------------------------------------------------------------------------


def test_reads_stream_one_chunk_at_a_time(store: BlobStore) -> None:
    data = pattern(3 * CHUNK + 5)
    ref, _ = put(store, data)
    assert [len(c) for c in store.open(ref.digest)] == [CHUNK, CHUNK, CHUNK, 5]


def test_open_from_every_offset(store: BlobStore) -> None:
    data = pattern(3 * CHUNK + 5)
    ref, _ = put(store, data)
    for offset in range(len(data) + 1):
        assert read_all(store, ref.digest, offset) == data[offset:]
    mid = CHUNK + 10
    assert [len(c) for c in store.open(ref.digest, mid)] == [CHUNK - 10, CHUNK, 5]


def test_reads_never_yield_an_empty_piece(store: BlobStore) -> None:
    empty, _ = put(store, b"")
    assert list(store.open(empty.digest)) == []
    data = pattern(2 * CHUNK + 5)
    ref, _ = put(store, data)
    assert list(store.open(ref.digest, len(data))) == []
    assert list(store.open(ref.digest, 2 * CHUNK)) == [data[2 * CHUNK :]]


def test_open_offset_out_of_range(store: BlobStore) -> None:
    ref, _ = put(store, pattern(100))
    with pytest.raises(InputInvalid, match="past the end"):
        store.open(ref.digest, 101)
    with pytest.raises(InputInvalid):
        store.open(ref.digest, -1)


def test_a_flipped_byte_is_never_yielded(store: BlobStore) -> None:
    data = pattern(4 * CHUNK)
    ref, path = put(store, data)
    content = bytearray(path.read_bytes())
    content[HEADER_SIZE + 2 * RECORD + 5] ^= 0xFF  # inside the third chunk
    path.write_bytes(content)
    chunks = store.open(ref.digest)
    assert next(chunks) + next(chunks) == data[: 2 * CHUNK]
    with pytest.raises(SignatureInvalid, match="chunk 2"):
        next(chunks)


def test_a_store_reads_blobs_written_with_another_chunk_size(tmp_path: Path, kek: bytes) -> None:
    data = pattern(1000)
    with BlobStore(tmp_path, kek, chunk_size=CHUNK) as small:
        ref, _ = put(small, data)
        with small.partial(digest_of(data[::-1]), 1000) as partial:
            partial.append(data[::-1][:500])
    with BlobStore(tmp_path, kek, chunk_size=4096) as large:
        assert read_all(large, ref.digest, 77) == data[77:]
        with large.partial(digest_of(data[::-1]), 1000) as partial:
            assert partial.offset == 448
            partial.append(data[::-1][448:])
            partial.complete()
        assert read_all(large, digest_of(data[::-1])) == data[::-1]


# -- queries --------------------------------------------------------------------------------------


def test_iter_size_delete(store: BlobStore) -> None:
    refs = {put(store, pattern(n, seed=n))[0] for n in (0, 10, 300)}
    with store.partial(digest_of(b"in flight"), 9) as partial:
        partial.append(b"in fl")
    assert set(store.iter_digests()) == {r.digest for r in refs}
    some = refs.pop()
    store.delete(some.digest)
    store.delete(some.digest)  # idempotent
    assert not store.has(some.digest)
    assert set(store.iter_digests()) == {r.digest for r in refs}
    with pytest.raises(NotFound):
        store.open(some.digest)
    with pytest.raises(NotFound):
        store.size(some.digest)


def test_malformed_addresses(store: BlobStore) -> None:
    good = digest_of(b"x")
    for bad in ["", good.upper(), good[7:], good + "0", "sha1:" + "0" * 40, "sha256:" + "g" * 64]:
        with pytest.raises(InputInvalid):
            store.has(bad)
        with pytest.raises(InputInvalid):
            store.open(bad)
        with pytest.raises(InputInvalid):
            store.partial(bad, 1)


def test_the_store_must_be_open(tmp_path: Path, kek: bytes) -> None:
    store = BlobStore(tmp_path / "later", kek)
    assert not (tmp_path / "later").exists()  # the constructor does no I/O
    with pytest.raises(ConfigInvalid, match="not open"):
        store.has(digest_of(b""))
    with pytest.raises(ConfigInvalid, match="not open"):
        store.writer(max_size=1)


@pytest.mark.parametrize("bad", [b"", b"k" * 31, b"k" * 33])
def test_kek_must_be_32_bytes(tmp_path: Path, bad: bytes) -> None:
    with pytest.raises(ConfigInvalid):
        BlobStore(tmp_path, bad)


@pytest.mark.parametrize("chunk_size", [0, 15, (1 << 24) + 1])
def test_chunk_size_bounds(tmp_path: Path, kek: bytes, chunk_size: int) -> None:
    with pytest.raises(ConfigInvalid):
        BlobStore(tmp_path, kek, chunk_size=chunk_size)


# -- at rest --------------------------------------------------------------------------------------


def test_nothing_readable_on_disk(store: BlobStore) -> None:
    data = MARKER * 40
    ref, _ = put(store, data)
    with store.partial(digest_of(MARKER * 41), len(MARKER) * 41) as partial:
        partial.append(MARKER * 20)
    on_disk = files_under(store.root)
    assert len(on_disk) == 3  # the blob, the partial and its lock
    hexdigests = {ref.digest[7:], digest_of(MARKER * 41)[7:]}
    raw_digests = {bytes.fromhex(h) for h in hexdigests}
    for path in on_disk:
        content = path.read_bytes()
        assert MARKER[:16] not in content
        assert not any(
            h.encode() in content or r in content
            for h, r in zip(hexdigests, raw_digests, strict=True)
        )
        assert not any(h in str(path) for h in hexdigests)  # names are keyed, not the digest
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wrong_kek_cannot_read(store: BlobStore, tmp_path: Path) -> None:
    data = MARKER * 3
    ref, path = put(store, data)
    with BlobStore(store.root, os.urandom(32), chunk_size=CHUNK) as other:
        assert not other.has(ref.digest)  # file names are keyed: it does not even find it
        with pytest.raises(NotFound):
            other.open(ref.digest)
        other_ref, other_path = put(other, b"decoy")
        other_path.write_bytes(path.read_bytes())  # the real blob where "decoy" is looked for
        with pytest.raises(SignatureInvalid, match="does not unwrap"):
            other.open(other_ref.digest)
        with pytest.raises(SignatureInvalid):
            other.size(other_ref.digest)
        with pytest.raises(SignatureInvalid):
            list(other.iter_digests())


# -- memory ---------------------------------------------------------------------------------------


STREAM = textwrap.dedent(
    """
    import hashlib, os, resource, sys
    from pathlib import Path
    from tisa.blobs.store import BlobStore

    MiB = 1 << 20
    total = int(sys.argv[2]) * MiB
    block = os.urandom(MiB)

    def pieces():  # a generated stream: never all in memory
        for i in range(total // MiB):
            yield i.to_bytes(8, "big") + block[8:]

    expected = hashlib.sha256()
    for piece in pieces():
        expected.update(piece)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with BlobStore(Path(sys.argv[1]), os.urandom(32)) as store:
        with store.writer(max_size=total) as writer:
            for piece in pieces():
                writer.write(piece)
            ref = writer.commit()
        assert ref.digest == "sha256:" + expected.hexdigest(), ref
        seen = hashlib.sha256()
        for chunk in store.open(ref.digest):
            seen.update(chunk)
        assert seen.digest() == expected.digest()
        assert store.size(ref.digest) == total
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) // 1024)  # ru_maxrss is in KiB on Linux
    """
)


def test_streaming_300_mb_keeps_memory_flat(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", STREAM, str(tmp_path), "300"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    growth_mib = int(result.stdout.strip())
    assert growth_mib < 32, f"peak RSS grew by {growth_mib} MiB while streaming 300 MB"
