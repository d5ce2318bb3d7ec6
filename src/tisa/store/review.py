"""Drafts a release officer sent back to their author, with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from tisa.store.tables import sent_back


@dataclass(frozen=True)
class SentBack:
    """Why a draft went back to its author, who said so and when."""

    product_id: str
    version: int
    reason: str
    sent_by: str
    sent_at: datetime


def send_back(
    conn: Connection, product_id: str, version: int, reason: str, by: str, now: datetime
) -> None:
    """Mark a draft as sent back (replacing an earlier reason)."""
    clear(conn, product_id, version)
    conn.execute(
        insert(sent_back).values(
            product_id=product_id, version=version, reason=reason, sent_by=by, sent_at=now
        )
    )


def clear(conn: Connection, product_id: str, version: int) -> None:
    """The draft was revised: it is back in the release queue."""
    conn.execute(
        delete(sent_back).where(
            sent_back.c.product_id == product_id, sent_back.c.version == version
        )
    )


def all_sent_back(conn: Connection) -> dict[tuple[str, int], SentBack]:
    """Every draft waiting on its author, by (product id, version)."""
    rows = conn.execute(select(sent_back))
    return {
        (r.product_id, int(r.version)): SentBack(
            r.product_id, int(r.version), r.reason, r.sent_by, r.sent_at
        )
        for r in rows
    }
