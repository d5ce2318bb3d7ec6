"""Drafts a release officer sent back to their author, with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def sent_back_of(conn: Connection, product_id: str, version: int) -> SentBack | None:
    """Why one draft went back, or None."""
    r = conn.execute(
        select(sent_back).where(
            sent_back.c.product_id == product_id, sent_back.c.version == version
        )
    ).first()
    return None if r is None else _row(r)


def all_sent_back(conn: Connection) -> dict[tuple[str, int], SentBack]:
    """Every draft waiting on its author, by (product id, version)."""
    return {(r.product_id, int(r.version)): _row(r) for r in conn.execute(select(sent_back))}


def _row(r: Any) -> SentBack:
    return SentBack(r.product_id, int(r.version), r.reason, r.sent_by, r.sent_at)
