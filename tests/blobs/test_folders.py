"""The folders under a store's root: uploads abandoned by dead processes are swept, live ones
kept."""

from __future__ import annotations

from pathlib import Path

from blob_factories import CHUNK, read_all

from tisa.blobs.store import BlobStore

# -- tmp ------------------------------------------------------------------------------------------


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
