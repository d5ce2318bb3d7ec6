"""The path and query parameters the API and the web UI share: ids, versions, digests."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam

#: A product, consent or request id: a UUID in its lowercase text form.
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: A blob's address: the SHA-256 of its plaintext.
DIGEST = r"^sha256:[0-9a-f]{64}$"

Id = Annotated[str, PathParam(pattern=UUID)]
Version = Annotated[int, PathParam(ge=1, le=1_000_000)]
Digest = Annotated[str, PathParam(pattern=DIGEST)]
