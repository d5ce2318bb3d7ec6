"""The readiness check's write: one row, rewritten, to prove the store takes writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update

from tisa.store.rows import insert_new
from tisa.store.tables import health_probe


def probe(conn: Connection, now: datetime) -> None:
    """Write the probe row (made on first use)."""
    if not conn.execute(update(health_probe).where(health_probe.c.id == 1).values(at=now)).rowcount:
        insert_new(conn, health_probe, {"id": 1, "at": now})
