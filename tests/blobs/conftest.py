"""Fixtures of the blob tests: a key, a store in 64-byte chunks, and one with a disk reserve."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from blob_factories import CHUNK, Disk

from tisa.blobs.store import BlobStore
from tisa.store.disk import Reserve


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def store(tmp_path: Path, kek: bytes) -> Iterator[BlobStore]:
    with BlobStore(tmp_path / "blobs", kek, chunk_size=CHUNK) as opened:
        yield opened


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
