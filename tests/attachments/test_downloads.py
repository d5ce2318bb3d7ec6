"""Serving an attachment (tisa.attachments.downloads): never a byte that failed
authentication; a damaged blob is refused before the first byte when it is small, cut off
mid-stream when it is not, and named in the log either way."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tisa.attachments.downloads import checked_stream
from tisa.blobs.format import HEADER_SIZE
from tisa.blobs.store import BlobStore
from tisa.errors import Damaged

CHUNK = 64
DATA = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(40))  # 20 chunks
PRODUCT = "0f8b2a64-3c1e-4b7a-9d52-6a1f0e4c9b10 v1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlobStore]:
    with BlobStore(tmp_path, os.urandom(32), chunk_size=CHUNK) as opened:
        yield opened


def stored(store: BlobStore, *, damage_chunk: int | None = None) -> str:
    with store.writer(max_size=len(DATA)) as writer:
        writer.write(DATA)
        digest = writer.commit().digest
    if damage_chunk is not None:
        (path,) = (p for p in (store.root / "blobs").rglob("*") if p.is_file())
        raw = bytearray(path.read_bytes())
        raw[HEADER_SIZE + damage_chunk * (CHUNK + 16) + 5] ^= 0x01
        path.write_bytes(bytes(raw))
    return digest


def test_a_whole_blob_streams(store: BlobStore) -> None:
    digest = stored(store)
    assert b"".join(checked_stream(store, digest, len(DATA), PRODUCT)) == DATA
    assert b"".join(checked_stream(store, digest, len(DATA), PRODUCT, check_first=0)) == DATA


def test_a_small_damaged_blob_is_refused_before_any_byte(
    store: BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    digest = stored(store, damage_chunk=12)
    with caplog.at_level(logging.ERROR, logger="tisa.attachments"), pytest.raises(Damaged) as no:
        checked_stream(store, digest, len(DATA), PRODUCT)
    assert no.value.reason == (
        f"attachment {digest} of {PRODUCT} is damaged and is not served: {digest}: chunk 12 "
        "does not verify; the stored file was altered"
    )
    [logged] = caplog.records
    assert digest in logged.getMessage()
    assert PRODUCT in logged.getMessage()


def test_a_large_damaged_blob_is_cut_off_at_the_bad_chunk(
    store: BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    digest = stored(store, damage_chunk=12)
    chunks = checked_stream(store, digest, len(DATA), PRODUCT, check_first=CHUNK)
    sent = bytearray()

    def take() -> None:
        for chunk in chunks:
            sent.extend(chunk)

    with caplog.at_level(logging.ERROR, logger="tisa.attachments"), pytest.raises(Damaged):
        take()
    assert bytes(sent) == DATA[: 12 * CHUNK]  # every byte before the bad chunk, none after
    assert digest in caplog.text


def test_a_missing_blob_is_damaged_not_absent(store: BlobStore) -> None:
    digest = stored(store)
    store.delete(digest)
    with pytest.raises(Damaged, match=f"no blob {digest}"):
        checked_stream(store, digest, len(DATA), PRODUCT)
