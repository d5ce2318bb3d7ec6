"""What each user has opened: the inbox's read and unread."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, insert, select, tuple_

from tisa.store.tables import reads


def mark(conn: Connection, username: str, product_id: str, version: int, now: datetime) -> None:
    """Note that the user opened this version (once; later openings change nothing)."""
    seen = conn.execute(
        select(reads.c.version).where(
            reads.c.username == username,
            reads.c.product_id == product_id,
            reads.c.version == version,
        )
    ).first()
    if seen is None:
        conn.execute(
            insert(reads).values(
                username=username, product_id=product_id, version=version, read_at=now
            )
        )


def opened(
    conn: Connection, username: str, keys: Iterable[tuple[str, int]]
) -> set[tuple[str, int]]:
    """Which of the (product id, version) pairs the user has opened."""
    wanted = list(keys)
    if not wanted:
        return set()
    rows = conn.execute(
        select(reads.c.product_id, reads.c.version).where(
            reads.c.username == username,
            tuple_(reads.c.product_id, reads.c.version).in_(wanted),
        )
    )
    return {(r.product_id, int(r.version)) for r in rows}
