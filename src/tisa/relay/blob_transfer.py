"""Sending a blob to a peer: by hash, streamed, resumed from where the peer stopped.

The peer is asked first how much it holds; a blob it already has is never sent again, and a
transfer cut in the middle goes on from the peer's offset. The bytes are checked against the
digest the originator signed when the last one arrives, so nothing partial is ever visible.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import httpx

from tisa.blobs.store import BlobStore
from tisa.crypto.trust import Trust
from tisa.errors import DeliveryFailed, DeliveryRejected, NotFound
from tisa.relay.transmission import (
    HEADER,
    REFUSED_FOR_GOOD,
    blob_subject,
    sign_transmission,
)

BLOBS_PATH = "/federation/v1/blobs"


def status_subject(digest: str) -> str:
    """What a blob status request's header signs."""
    return f"blob-status {digest}"


async def _stream(store: BlobStore, digest: str, offset: int) -> AsyncIterator[bytes]:
    # Decrypting a chunk is file I/O and CPU: off the event loop, one chunk at a time.
    chunks = store.open(digest, offset)
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            return
        yield chunk


async def ensure_at_peer(
    client: httpx.AsyncClient,
    trust: Trust,
    store: BlobStore,
    peer: str,
    digest: str,
    size: int,
    clock: Callable[[], datetime],
) -> bool:
    """Make sure `peer` holds the blob; returns True if bytes were sent.

    Raises:
        DeliveryFailed: the peer could not be reached, answered nonsense, or the transfer was
            cut (retry later).
        DeliveryRejected: the peer refused the blob for good (e.g. over the size limit).
        NotFound: this node no longer holds the blob.
    """
    if not await asyncio.to_thread(store.has, digest):
        raise NotFound(f"blob {digest} is not held here (withdrawn or lost)")
    try:
        asked = await client.get(
            f"{BLOBS_PATH}/{digest}",
            headers={HEADER: sign_transmission(trust, peer, status_subject(digest), clock())},
        )
        if asked.status_code != 200:
            raise DeliveryFailed(f"blob status from {peer}: HTTP {asked.status_code}")
        held = asked.json()
        if not isinstance(held, dict):
            raise DeliveryFailed(f"blob status from {peer} is not a JSON object")
        if held.get("complete") is True:
            return False
        offset = held.get("offset") or 0
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= size:
            raise DeliveryFailed(f"blob status from {peer} names offset {offset!r}")
        header = sign_transmission(trust, peer, blob_subject(digest, offset, size), clock())
        sent = await client.put(
            f"{BLOBS_PATH}/{digest}",
            params={"offset": offset, "size": size},
            content=_stream(store, digest, offset),
            headers={HEADER: header, "Content-Type": "application/octet-stream"},
            timeout=httpx.Timeout(None, connect=5.0),
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"blob {digest[:19]}… to {peer}: {type(exc).__name__}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise DeliveryFailed(f"blob status from {peer} unreadable: {exc}") from exc
    if sent.status_code in REFUSED_FOR_GOOD:
        raise DeliveryRejected(
            f"{peer} refused blob {digest}: HTTP {sent.status_code} {sent.text[:200]}"
        )
    try:
        answer = sent.json()
    except ValueError:
        answer = None
    if (
        sent.status_code != 200
        or not isinstance(answer, dict)
        or answer.get("complete") is not True
    ):
        said = answer.get("detail") if isinstance(answer, dict) else None
        raise DeliveryFailed(
            f"blob {digest[:19]}… to {peer} not complete: HTTP {sent.status_code}"
            + (f" ({str(said)[:200]})" if said else "")
        )
    return True
