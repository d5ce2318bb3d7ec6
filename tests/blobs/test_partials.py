"""The partials folder: resuming after a close, a kill, a torn write or a damaged chunk; the
reserve and the cap on partials; sweeping; partials of another size or another key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from blob_factories import (
    CHUNK,
    RECORD,
    Disk,
    digest_of,
    files_under,
    part_file,
    pattern,
    put,
    read_all,
    receive,
)

from tisa.blobs.format import HEADER_SIZE, BlobRef
from tisa.blobs.partials import Swept
from tisa.blobs.store import BlobStore
from tisa.errors import Conflict, DiskFull, SignatureInvalid

# -- resuming -------------------------------------------------------------------------------------


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


# -- disk -----------------------------------------------------------------------------------------


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


def test_partials_together_are_capped(reserved: BlobStore) -> None:
    first, second = pattern(400), pattern(300, seed=1)
    with reserved.partial(digest_of(first), len(first)) as partial:
        partial.append(first[: 4 * CHUNK])
    with pytest.raises(DiskFull, match="must wait: partial downloads may hold 0 MiB in all"):
        reserved.partial(digest_of(second), len(second))
    assert len(list((reserved.root / "partials").glob("*.part"))) == 1
    reserved.discard_partial(digest_of(first))
    assert receive(reserved, second).size == 300


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
