"""Contents, digests and the store drivers the blob tests share.

Most tests use a 64-byte chunk so that "several chunks" is a few hundred bytes. Import with
``from blob_factories import ...`` (pytest puts tests/blobs on sys.path: it has no __init__.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tisa.blobs.format import BlobRef
from tisa.blobs.store import BlobStore

CHUNK = 64
RECORD = CHUNK + 16  # a full chunk on disk: ciphertext and GCM tag
MARKER = b"SECRET//REL TO KOR, USA//launch coordinates 38.9N 125.7E"
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 7 * CHUNK + 13]


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


class Disk:
    """Free space the test sets: what `Reserve` measures."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, _path: Path) -> int:
        return self.free
