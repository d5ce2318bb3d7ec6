"""A full disk (ENOSPC) becomes DiskFull, and what was being written is removed or resumable."""

from __future__ import annotations

import errno
import os

import pytest
from blob_factories import CHUNK, digest_of, files_under, pattern, receive

from tisa.blobs.store import BlobStore
from tisa.errors import DiskFull

# -- full disk ------------------------------------------------------------------------------------


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
