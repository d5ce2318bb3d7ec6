"""Request size limits, enforced while reading so an oversize body is never held whole."""

from __future__ import annotations

from fastapi import Request

from tisa.errors import InputInvalid


class BodyTooLarge(InputInvalid):
    """The request body exceeds its limit."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes `limit` bytes.

    Raises:
        BodyTooLarge: the declared or actual size is over `limit`.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
