"""The disk reserve and what "disk full" means (tisa.node.disk)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tisa.errors import ConfigInvalid, DiskFull
from tisa.node.disk import MIB, Reserve, Unlimited, free_bytes, full, is_disk_full, writing


class Disk:
    """A file system whose free space the test sets."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.asked = 0

    def __call__(self, _path: Path) -> int:
        self.asked += 1
        return self.free


def test_an_attachment_that_would_take_the_reserve_is_refused_before_it_is_written(
    tmp_path: Path,
) -> None:
    disk = Disk(300 * MIB)
    reserve = Reserve(tmp_path, 256 * MIB, free=disk)
    reserve.claim("upload", 40 * MIB)  # leaves 260 MiB: granted
    with pytest.raises(DiskFull) as refused:
        reserve.claim("upload", 50 * MIB)  # would leave 250 MiB
    assert refused.value.reason == (
        "attachments are refused: 300 MiB free, the reserve is 256 MiB kept for products"
    )
    assert refused.value.what == "upload"


def test_nothing_is_remembered_so_freed_space_is_used_at_once(tmp_path: Path) -> None:
    disk = Disk(100 * MIB)
    reserve = Reserve(tmp_path, 256 * MIB, free=disk)
    with pytest.raises(DiskFull):
        reserve.claim("blob", 1)
    disk.free = 2048 * MIB
    reserve.claim("blob", 1024 * MIB)
    assert disk.asked == 2


def test_the_real_file_system_is_measured(tmp_path: Path) -> None:
    assert free_bytes(tmp_path) > 0
    Reserve(tmp_path, 0).claim("upload", 1)
    with pytest.raises(DiskFull, match="attachments are refused"):
        Reserve(tmp_path, 2**62).claim("upload", 1)
    with pytest.raises(ConfigInvalid, match="cannot measure free disk"):
        free_bytes(tmp_path / "gone")


def test_unlimited_grants_everything() -> None:
    Unlimited().claim("upload", 2**62)


def test_what_counts_as_a_full_disk() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(full("upload", "an upload could not be written"))
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    assert is_disk_full(OperationalError("INSERT …", {}, sqlite_full))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(OperationalError("SELECT 1", {}, sqlite3.OperationalError("locked")))
    wrapped = RuntimeError("while writing")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert is_disk_full(wrapped)


def test_writing_turns_a_full_disk_into_disk_full_and_passes_anything_else() -> None:
    with pytest.raises(DiskFull) as caught, writing("preview", "a preview could not be made"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.what == "preview"
    assert caught.value.reason.startswith("the disk is full: a preview could not be made; ")
    with pytest.raises(PermissionError), writing("preview", "a preview could not be made"):
        raise PermissionError(errno.EACCES, "Permission denied")
