"""Partial: appending, syncing and completing one receive."""

from __future__ import annotations

import gc

import pytest
from blob_factories import CHUNK, SIZES, Disk, digest_of, files_under, pattern, read_all, receive

from tisa.blobs.format import BlobRef
from tisa.blobs.limits import BlobTooLarge
from tisa.blobs.store import BlobStore
from tisa.errors import Conflict, DiskFull, InputInvalid, SignatureInvalid

# -- receiving ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_receive_round_trip(store: BlobStore, size: int) -> None:
    data = pattern(size, seed=1)
    ref = receive(store, data, piece=7)
    assert ref == BlobRef(digest_of(data), size)
    assert read_all(store, ref.digest) == data
    assert list((store.root / "partials").iterdir()) == []


def test_appending_past_the_size_is_refused(store: BlobStore) -> None:
    data = pattern(100)
    with store.partial(digest_of(data), 100) as partial:
        partial.append(data[:90])
        with pytest.raises(BlobTooLarge, match="announced size"):
            partial.append(data[90:] + b"!")
        assert partial.offset == 90
        partial.append(data[90:])
        assert partial.complete().size == 100


def test_completing_early_keeps_the_partial(store: BlobStore) -> None:
    data = pattern(3 * CHUNK)
    with store.partial(digest_of(data), len(data)) as partial:
        partial.append(data[:100])
        with pytest.raises(InputInvalid, match="100 of 192 bytes"):
            partial.complete()
        partial.append(data[100:])
        partial.complete()
    assert read_all(store, digest_of(data)) == data


def test_sync_reports_durable_bytes(store: BlobStore) -> None:
    data = pattern(3 * CHUNK + 5)
    with store.partial(digest_of(data), len(data)) as partial:
        partial.append(data[: CHUNK + 3])
        assert partial.sync() == CHUNK
        partial.append(data[CHUNK + 3 :])
        assert partial.sync() == len(data)  # the short last chunk went out as it filled


def test_wrong_content_is_refused_and_leaves_nothing(store: BlobStore) -> None:
    expected = pattern(3 * CHUNK + 2, seed=1)
    impostor = pattern(3 * CHUNK + 2, seed=2)
    digest = digest_of(expected)
    partial = store.partial(digest, len(expected))
    partial.append(impostor)
    with pytest.raises(SignatureInvalid, match=f"received bytes do not match {digest}"):
        partial.complete()
    assert not store.has(digest)
    assert store.partial_offset(digest) == 0
    assert files_under(store.root) == set()
    with pytest.raises(Conflict):
        partial.append(b"x")


def test_wrong_content_is_refused_after_a_resume(store: BlobStore) -> None:
    expected = pattern(3 * CHUNK, seed=1)
    impostor = pattern(3 * CHUNK, seed=2)
    digest = digest_of(expected)
    with store.partial(digest, len(expected)) as partial:
        partial.append(impostor[: 2 * CHUNK])
    with store.partial(digest, len(expected)) as partial:
        partial.append(impostor[partial.offset :])
        with pytest.raises(SignatureInvalid, match="do not match"):
            partial.complete()
    assert files_under(store.root) == set()


def test_resume_after_dropping_the_partial_unclosed(store: BlobStore) -> None:
    data = pattern(4 * CHUNK)
    digest = digest_of(data)
    partial = store.partial(digest, len(data))
    partial.append(data[: 2 * CHUNK + 1])
    del partial  # no close(): the lock goes with the object
    gc.collect()
    with store.partial(digest, len(data)) as resumed:
        assert resumed.offset == 2 * CHUNK
        resumed.append(data[resumed.offset :])
        resumed.complete()
    assert read_all(store, digest) == data


def test_a_receive_stops_at_the_reserve_and_resumes_once_space_is_freed(
    reserved: BlobStore, disk: Disk
) -> None:
    data = pattern(5 * CHUNK)
    partial = reserved.partial(digest_of(data), len(data))
    partial.append(data[: 2 * CHUNK])
    disk.free = 1000 + CHUNK - 1
    with pytest.raises(DiskFull):
        partial.append(data[2 * CHUNK :])
    assert partial.offset == 2 * CHUNK  # nothing was appended
    partial.close()
    disk.free = 10_000
    with reserved.partial(digest_of(data), len(data)) as resumed:
        assert resumed.offset == 2 * CHUNK
        resumed.append(data[2 * CHUNK :])
        resumed.complete()
    assert read_all(reserved, digest_of(data)) == data
