"""The encrypted, content-addressed blob store: round trips, tampering, resumable receives.

Most tests use a 64-byte chunk so that "several chunks" is a few hundred bytes. The memory test
runs a 300 MB stream in a fresh process, so that its peak RSS says something.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import itertools
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.blobs import keyfile
from tisa.blobs.format import HEADER_SIZE, BlobRef
from tisa.blobs.limits import BlobTooLarge
from tisa.blobs.partials import Swept
from tisa.blobs.store import BlobStore
from tisa.errors import (
    ConfigInvalid,
    Conflict,
    DiskFull,
    InputInvalid,
    NotFound,
    SignatureInvalid,
)
from tisa.store.disk import Reserve

CHUNK = 64
RECORD = CHUNK + 16  # a full chunk on disk: ciphertext and GCM tag
MARKER = b"SECRET//REL TO KOR, USA//launch coordinates 38.9N 125.7E"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pattern(size: int, seed: int = 0) -> bytes:
    """Distinct, reproducible content of `size` bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def read_all(store: BlobStore, digest: str, offset: int = 0) -> bytes:
    return b"".join(store.open(digest, offset))


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def store(tmp_path: Path, kek: bytes) -> Iterator[BlobStore]:
    with BlobStore(tmp_path / "blobs", kek, chunk_size=CHUNK) as opened:
        yield opened


def put(store: BlobStore, data: bytes) -> tuple[BlobRef, Path]:
    """Commit `data` through a writer; return its ref and the file it landed in."""
    before = files_under(store.root / "blobs")
    with store.writer(max_size=len(data)) as writer:
        writer.write(data)
        ref = writer.commit()
    (path,) = files_under(store.root / "blobs") - before
    return ref, path


def receive(store: BlobStore, data: bytes, piece: int = 50) -> BlobRef:
    with store.partial(digest_of(data), len(data)) as partial:
        for start in range(0, len(data), piece):
            partial.append(data[start : start + piece])
        return partial.complete()


def part_file(store: BlobStore) -> Path:
    (path,) = (store.root / "partials").glob("*.part")
    return path


SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 7 * CHUNK + 13]


# -- round trips ----------------------------------------------------------------------------


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


@pytest.mark.parametrize("size", SIZES)
def test_receive_round_trip(store: BlobStore, size: int) -> None:
    data = pattern(size, seed=1)
    ref = receive(store, data, piece=7)
    assert ref == BlobRef(digest_of(data), size)
    assert read_all(store, ref.digest) == data
    assert list((store.root / "partials").iterdir()) == []


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


def test_open_offset_out_of_range(store: BlobStore) -> None:
    ref, _ = put(store, pattern(100))
    with pytest.raises(InputInvalid, match="past the end"):
        store.open(ref.digest, 101)
    with pytest.raises(InputInvalid):
        store.open(ref.digest, -1)


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


# -- at rest --------------------------------------------------------------------------------


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


# -- uploads --------------------------------------------------------------------------------


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


def test_open_store_sweeps_abandoned_uploads_only(tmp_path: Path, kek: bytes) -> None:
    with BlobStore(tmp_path, kek, chunk_size=CHUNK) as store:
        abandoned = tmp_path / "tmp" / "dead.tmp"
        abandoned.write_bytes(b"left by a crashed process")
        with store.writer(max_size=100) as live:
            live.write(b"still being written")
            BlobStore(tmp_path, kek, chunk_size=CHUNK).open_store()
            assert not abandoned.exists()
            ref = live.commit()
        assert read_all(store, ref.digest) == b"still being written"


# -- disk: the reserve, a full disk, abandoned partials ------------------------------------


class Disk:
    """Free space the test sets: what `Reserve` measures."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, _path: Path) -> int:
        return self.free


@pytest.fixture
def disk() -> Disk:
    return Disk(10_000)


@pytest.fixture
def reserved(tmp_path: Path, kek: bytes, disk: Disk) -> Iterator[BlobStore]:
    """A store that keeps 1,000 bytes of `disk` free, and lets partials hold 600 in all."""
    space = Reserve(tmp_path, 1000, free=disk)
    with BlobStore(
        tmp_path / "blobs", kek, chunk_size=CHUNK, space=space, max_partials=600
    ) as opened:
        yield opened


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


def test_a_receive_whose_announced_size_breaks_the_reserve_writes_nothing(
    reserved: BlobStore, disk: Disk
) -> None:
    disk.free = 1400
    data = pattern(500)
    with pytest.raises(DiskFull, match="attachments are refused") as refused:
        reserved.partial(digest_of(data), len(data))
    assert refused.value.what == "blob"
    assert files_under(reserved.root / "partials") == set()
    disk.free = 1500
    assert receive(reserved, data).size == 500


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


def test_partials_together_are_capped(reserved: BlobStore) -> None:
    first, second = pattern(400), pattern(300, seed=1)
    with reserved.partial(digest_of(first), len(first)) as partial:
        partial.append(first[: 4 * CHUNK])
    with pytest.raises(DiskFull, match="must wait: partial downloads may hold 0 MiB in all"):
        reserved.partial(digest_of(second), len(second))
    assert len(list((reserved.root / "partials").glob("*.part"))) == 1
    reserved.discard_partial(digest_of(first))
    assert receive(reserved, second).size == 300


def test_a_full_disk_is_disk_full_and_the_upload_is_removed(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(_fd: int, _data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with store.writer(max_size=1000) as writer:
        monkeypatch.setattr(os, "write", no_space)
        with pytest.raises(DiskFull, match="the disk is full") as full:
            writer.write(pattern(3 * CHUNK))
        monkeypatch.undo()
    assert full.value.what == "upload"
    assert files_under(store.root / "tmp") == set()
    data = pattern(3 * CHUNK)
    partial = store.partial(digest_of(data), len(data))
    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(DiskFull, match="the disk is full"):
        partial.append(data)
    monkeypatch.undo()
    assert receive(store, data).size == len(data)  # space again: it resumes


def test_idle_partials_are_swept_busy_and_recent_ones_kept(store: BlobStore) -> None:
    idle, busy, recent = pattern(200), pattern(200, seed=1), pattern(200, seed=2)
    for data in (idle, busy, recent):
        with store.partial(digest_of(data), len(data)) as partial:
            partial.append(data[:CHUNK])
    day = 24 * 3600.0
    long_ago = time.time() - 2 * day
    for path in (store.root / "partials").glob("*.part"):
        os.utime(path, (long_ago, long_ago))
    receiving = store.partial(digest_of(busy), len(busy))  # being received: locked
    with store.partial(digest_of(recent), len(recent)) as partial:
        partial.append(recent[CHUNK : 2 * CHUNK])  # written to just now
    swept = store.sweep_partials(idle=day, now=time.time())
    assert swept == Swept(1, HEADER_SIZE + RECORD)
    assert store.partial_offset(digest_of(idle)) == 0
    assert store.partial_offset(digest_of(recent)) == 2 * CHUNK
    receiving.append(busy[CHUNK:])
    receiving.complete()
    assert read_all(store, digest_of(busy)) == busy
    later = store.sweep_partials(idle=day, now=time.time() + 2 * day)
    assert later.count == 1  # the recent one, once it too has been left alone a day
    assert files_under(store.root / "partials") == set()


# -- resumable receive ----------------------------------------------------------------------


def test_resume_after_close(store: BlobStore) -> None:
    data = pattern(10 * CHUNK + 17)
    digest = digest_of(data)
    half = len(data) // 2
    partial = store.partial(digest, len(data))
    assert partial.offset == 0
    for start in range(0, half, 25):
        partial.append(data[start : min(start + 25, half)])
    assert partial.offset == half
    partial.close()
    del partial
    durable = half // CHUNK * CHUNK
    assert store.partial_offset(digest) == durable
    assert not store.has(digest)

    with store.partial(digest, len(data)) as resumed:  # as after a restart
        assert resumed.offset == durable
        resumed.append(data[resumed.offset :])
        ref = resumed.complete()
    assert ref == BlobRef(digest, len(data))
    assert read_all(store, digest) == data
    assert store.partial_offset(digest) == 0
    assert list((store.root / "partials").iterdir()) == []


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


def test_writer_dropped_without_commit_is_swept(store: BlobStore, kek: bytes) -> None:
    writer = store.writer(max_size=1000)
    writer.write(pattern(300))
    del writer
    gc.collect()
    assert len(list((store.root / "tmp").iterdir())) == 1
    BlobStore(store.root, kek).open_store()
    assert files_under(store.root) == set()


RECEIVER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from tisa.blobs.store import BlobStore

    root, kek, digest, stop, source = sys.argv[1:]
    data = Path(source).read_bytes()
    store = BlobStore(Path(root), bytes.fromhex(kek), chunk_size=64)
    store.open_store()
    partial = store.partial(digest, len(data))
    partial.append(data[: int(stop)])
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no fsync, no cleanup
    """
)


def test_resume_after_the_receiver_is_killed(store: BlobStore, kek: bytes, tmp_path: Path) -> None:
    data = pattern(20 * CHUNK + 5)
    digest = digest_of(data)
    source = tmp_path / "source"
    source.write_bytes(data)
    stop = 11 * CHUNK + 30
    args = [str(store.root), kek.hex(), digest, str(stop), str(source)]
    result = subprocess.run([sys.executable, "-c", RECEIVER, *args], check=False, timeout=60)
    assert result.returncode == -signal.SIGKILL
    # The lock died with the process; whole chunks written before the kill count.
    with store.partial(digest, len(data)) as partial:
        assert partial.offset == 11 * CHUNK
        partial.append(data[partial.offset :])
        partial.complete()
    assert read_all(store, digest) == data


@pytest.mark.parametrize(
    "garbage",
    [b"\x00", b"torn" * 7, os.urandom(RECORD), os.urandom(500)],
    ids=["1 byte", "28 bytes", "a record's length", "500 bytes"],
)
def test_torn_write_is_dropped_on_resume(store: BlobStore, garbage: bytes) -> None:
    data = pattern(6 * CHUNK + 1)
    digest = digest_of(data)
    with store.partial(digest, len(data)) as partial:
        partial.append(data[: 3 * CHUNK + 10])
    path = part_file(store)
    clean_length = path.stat().st_size
    with path.open("ab") as f:
        f.write(garbage)
    assert store.partial_offset(digest) == 3 * CHUNK
    with store.partial(digest, len(data)) as partial:
        assert partial.offset == 3 * CHUNK
        assert path.stat().st_size == clean_length  # the torn tail is cut off
        partial.append(data[partial.offset :])
        partial.complete()
    assert read_all(store, digest) == data


def test_a_damaged_chunk_is_received_again(store: BlobStore) -> None:
    data = pattern(6 * CHUNK)
    digest = digest_of(data)
    with store.partial(digest, len(data)) as partial:
        partial.append(data[: 5 * CHUNK])
    path = part_file(store)
    content = bytearray(path.read_bytes())
    content[HEADER_SIZE + 2 * RECORD + 3] ^= 0x40
    path.write_bytes(content)
    with store.partial(digest, len(data)) as partial:
        assert partial.offset == 2 * CHUNK
        partial.append(data[partial.offset :])
        partial.complete()
    assert read_all(store, digest) == data


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


def test_one_partial_per_digest(store: BlobStore) -> None:
    data = pattern(200)
    digest = digest_of(data)
    first = store.partial(digest, len(data))
    with pytest.raises(Conflict, match="already being received"):
        store.partial(digest, len(data))
    with pytest.raises(Conflict):
        store.discard_partial(digest)
    first.close()
    with pytest.raises(Conflict, match="closed"):
        first.append(b"x")
    store.partial(digest, len(data)).close()


def test_partial_of_a_stored_blob_or_of_another_size(store: BlobStore) -> None:
    data = pattern(200)
    ref, _ = put(store, data)
    with pytest.raises(Conflict, match="already stored"):
        store.partial(ref.digest, 200)
    other = digest_of(b"other")
    store.partial(other, 5).close()
    with pytest.raises(Conflict, match="discard_partial"):
        store.partial(other, 6)
    store.discard_partial(other)
    store.discard_partial(other)
    assert files_under(store.root / "partials") == set()


def test_partial_header_from_another_kek(store: BlobStore) -> None:
    digest = digest_of(b"hello")
    store.partial(digest, 5).close()
    path = part_file(store)
    with BlobStore(store.root, os.urandom(32), chunk_size=CHUNK) as other:
        other.partial(digest, 5).close()
        mine = path.read_bytes()
        theirs = next(p for p in (store.root / "partials").glob("*.part") if p != path)
        theirs.write_bytes(mine)
        with pytest.raises(SignatureInvalid, match="does not unwrap"):
            other.partial(digest, 5)
        other.discard_partial(digest)


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


def test_key_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.kek"
    key = keyfile.create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyfile.load_key(path) == key
    with pytest.raises(Conflict):
        keyfile.create_key(path)
    assert keyfile.load_key(path) == key
    path.chmod(0o640)
    with pytest.raises(ConfigInvalid, match="chmod 600"):
        keyfile.load_key(path)
    short = tmp_path / "short.kek"
    short.write_bytes(b"k" * 31)
    short.chmod(0o600)
    with pytest.raises(ConfigInvalid, match="32-byte"):
        keyfile.load_key(short)
    with pytest.raises(ConfigInvalid):
        keyfile.load_key(tmp_path / "missing")


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


# -- properties -----------------------------------------------------------------------------


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


# -- memory ---------------------------------------------------------------------------------


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
