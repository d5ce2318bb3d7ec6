"""BlobWriter: uploads committed by what arrived, limits, and nothing left behind."""

from __future__ import annotations

import gc

import pytest
from blob_factories import CHUNK, SIZES, Disk, digest_of, files_under, pattern, put, read_all

from tisa.blobs.format import HEADER_SIZE, BlobRef
from tisa.blobs.limits import BlobTooLarge
from tisa.blobs.store import BlobStore
from tisa.errors import Conflict, DiskFull

# -- uploads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_writer_round_trip(store: BlobStore, size: int) -> None:
    data = pattern(size)
    ref, path = put(store, data)
    assert ref == BlobRef(digest_of(data), size)
    assert store.has(ref.digest)
    assert store.size(ref.digest) == size
    assert read_all(store, ref.digest) == data
    chunk_count = max(1, -(-size // CHUNK))
    assert path.stat().st_size == HEADER_SIZE + size + 16 * chunk_count


def test_writer_takes_any_split_and_buffer_type(store: BlobStore) -> None:
    data = pattern(5 * CHUNK + 3)
    with store.writer(max_size=len(data)) as writer:
        writer.write(memoryview(data)[:1])
        writer.write(bytearray(data[1 : CHUNK + 1]))
        writer.write(b"")
        writer.write(data[CHUNK + 1 : 4 * CHUNK])
        writer.write(data[4 * CHUNK :])
        assert writer.size == len(data)
        ref = writer.commit()
    assert read_all(store, ref.digest) == data


def test_same_content_twice_is_one_blob(store: BlobStore) -> None:
    data = pattern(200)
    first, _ = put(store, data)
    with store.writer(max_size=1000) as writer:
        writer.write(data)
        second = writer.commit()
    assert first == second
    assert len(files_under(store.root / "blobs")) == 1
    assert list((store.root / "tmp").iterdir()) == []
    assert list(store.iter_digests()) == [first.digest]


def test_max_size_is_enforced_and_leaves_nothing(store: BlobStore) -> None:
    with store.writer(max_size=100) as writer:
        writer.write(b"x" * 60)
        with pytest.raises(BlobTooLarge, match="limit of 100 bytes"):
            writer.write(b"x" * 41)
        with pytest.raises(Conflict):
            writer.write(b"x")
        with pytest.raises(Conflict):
            writer.commit()
    assert files_under(store.root) == set()
    with store.writer(max_size=100) as writer:
        writer.write(b"x" * 100)
        assert writer.commit().size == 100


def test_leaving_without_commit_leaves_nothing(store: BlobStore) -> None:
    def upload_interrupted() -> None:
        with store.writer(max_size=1000) as writer:
            writer.write(pattern(500))
            raise RuntimeError("upload interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        upload_interrupted()
    with store.writer(max_size=1000) as writer:
        writer.write(pattern(500))
    assert files_under(store.root) == set()
    assert not store.has(digest_of(pattern(500)))


def test_writer_dropped_without_commit_is_swept(store: BlobStore, kek: bytes) -> None:
    writer = store.writer(max_size=1000)
    writer.write(pattern(300))
    del writer
    gc.collect()
    assert len(list((store.root / "tmp").iterdir())) == 1
    BlobStore(store.root, kek).open_store()
    assert files_under(store.root) == set()


def test_an_upload_is_refused_before_it_takes_the_reserve_and_leaves_nothing(
    reserved: BlobStore, disk: Disk
) -> None:
    with reserved.writer(max_size=10_000) as writer:
        writer.write(pattern(300))
        disk.free = 1200  # another writer took the rest
        with pytest.raises(DiskFull, match="attachments are refused: 0 MiB free") as refused:
            writer.write(pattern(300, seed=1))
    assert refused.value.what == "upload"
    assert files_under(reserved.root / "tmp") == set()
    assert files_under(reserved.root / "blobs") == set()
    disk.free = 10_000  # space freed: the next upload goes through, nothing to restart
    put(reserved, pattern(600))
