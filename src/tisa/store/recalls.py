"""Recalls this node made or heard of, kept also for versions it does not hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from tisa.store.rows import insert_new
from tisa.store.tables import recalls


@dataclass(frozen=True)
class RecallRow:
    """A recall this node made or heard of, signed by the originator."""

    product_id: str
    version: int
    originator: str
    recalled_at: datetime
    reason: str
    token: str


def record_recall(conn: Connection, row: RecallRow, now: datetime) -> bool:
    """Keep a recall (also of a version not held: an envelope arriving later is refused);
    False if it was already kept."""
    return insert_new(conn, recalls, {**row.__dict__, "stored_at": now})


def recalled_among(conn: Connection, keys: Sequence[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    """Which of these (product, version) pairs are recalled."""
    ids = sorted({product_id for product_id, _ in keys})
    if not ids:
        return frozenset()
    rows = conn.execute(
        select(recalls.c.product_id, recalls.c.version).where(recalls.c.product_id.in_(ids))
    )
    wanted = set(keys)
    return frozenset((r.product_id, r.version) for r in rows if (r.product_id, r.version) in wanted)
