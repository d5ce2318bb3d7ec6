"""Taking in an upload under the disk reserve (tisa.attachments.uploads): its body is refused
as it arrives once it would take the reserve, leaving nothing; abandoned scratch folders go."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tisa.attachments.uploads import receive, sweep_workspaces, workspace
from tisa.blobs.store import BlobStore
from tisa.errors import DiskFull, TooLarge
from tisa.node.disk import Reserve


class Disk:
    """Free space the test sets; every block written takes its share."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, _path: Path) -> int:
        return self.free


async def _blocks(count: int, disk: Disk) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * 1000
        disk.free -= 1000


def test_a_body_is_refused_as_it_arrives_once_it_would_take_the_reserve(tmp_path: Path) -> None:
    disk = Disk(12_500)
    with BlobStore(
        tmp_path / "blobs", os.urandom(32), space=Reserve(tmp_path, 10_000, free=disk)
    ) as store:
        target = tmp_path / "upload"
        with pytest.raises(DiskFull, match="attachments are refused"):
            asyncio.run(receive(_blocks(5, disk), target, store=store, name="a.csv", limit=10**6))
        assert target.stat().st_size == 2000  # the third block was refused before it was written
        disk.free = 100_000
        size = asyncio.run(
            receive(_blocks(5, disk), target, store=store, name="a.csv", limit=10**6)
        )
        assert size == 5000
        with pytest.raises(TooLarge, match="over the 3,000-byte limit"):
            asyncio.run(receive(_blocks(5, disk), target, store=store, name="a.csv", limit=3000))


def test_scratch_folders_left_by_a_dead_upload_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "work"
    with workspace(root) as live:
        (live / "upload").write_bytes(b"in progress")
        dead = root / "upload-dead"
        dead.mkdir()
        (dead / "upload").write_bytes(b"left behind")
        long_ago = time.time() - 2 * 86400
        os.utime(dead, (long_ago, long_ago))
        assert sweep_workspaces(root, idle=86400, now=time.time()) == 1
        assert not dead.exists()
        assert (live / "upload").exists()
    assert sweep_workspaces(tmp_path / "never-made", idle=86400, now=time.time()) == 0
