"""Serving an attachment's stored bytes: never a byte that failed authentication.

Every chunk of a blob is authenticated before any of its bytes leave the store
(`tisa.blobs.store.BlobStore.open`). A blob that fails is damaged: that is logged with its digest
and product, and the user hears it. HTTP sends its status before the body, so a blob small
enough (`CHECK_FIRST`) is authenticated whole before the first byte is sent, and a damaged
one answers `Damaged` instead; a larger one is streamed, and a chunk that fails cuts the
transfer, so the client sees it incomplete rather than a file silently cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Final

from tisa.blobs.store import BlobStore
from tisa.errors import Damaged, NotFound, SignatureInvalid
from tisa.node.disk import MIB

CHECK_FIRST: Final = 64 * MIB

_log = logging.getLogger("tisa.attachments")


def read_whole(blobs: BlobStore, digest: str, product: str) -> Iterator[bytes]:
    """The plaintext of blob `digest`, an attachment of `product` ("<id> v<version>"), one
    authenticated chunk at a time.

    Raises (while iterating):
        Damaged: the blob is missing, or its header or a chunk does not authenticate; logged
            with the digest and the product.
        ConfigInvalid: the blob store cannot be read.
    """
    try:
        yield from blobs.open(digest)
    except (SignatureInvalid, NotFound) as exc:
        _log.error("attachment %s of %s is damaged: %s", digest, product, exc.reason)
        raise Damaged(
            f"attachment {digest} of {product} is damaged and is not served: {exc.reason}"
        ) from exc


def checked_stream(
    blobs: BlobStore, digest: str, size: int, product: str, *, check_first: int = CHECK_FIRST
) -> Iterator[bytes]:
    """What to stream of an attachment: its chunks, none that failed authentication. One of
    at most `check_first` bytes is read and authenticated whole first.

    Raises:
        Damaged: (before streaming) a blob of at most `check_first` bytes is missing or does
            not authenticate; (while iterating) a chunk of a larger one does not. Logged.
        ConfigInvalid: the blob store cannot be read.
    """
    if size <= check_first:
        for _ in read_whole(blobs, digest, product):
            pass
    return read_whole(blobs, digest, product)
