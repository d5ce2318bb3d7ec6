"""Where each version stands for each party, at the node that records it: forward only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from tisa.domain.states import DeliveryState
from tisa.store.rows import insert_new
from tisa.store.tables import deliveries


@dataclass(frozen=True)
class DeliveryRow:
    """Where one version stands for one party."""

    product_id: str
    version: int
    party: str
    state: str
    detail: str
    via: str | None
    receipt: str | None
    queued_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


def set_delivery(
    conn: Connection,
    product_id: str,
    version: int,
    party: str,
    state: DeliveryState,
    now: datetime,
    *,
    detail: str = "",
    via: str | None = None,
    receipt: str | None = None,
    delivered_at: datetime | None = None,
) -> bool:
    """Move where a version stands for a party, forward only (`DeliveryState.before`).

    The condition is part of the UPDATE, so two writers racing (a receipt arriving while the
    sender records "sent", on PostgreSQL) cannot walk a state back. Returns False, changing
    nothing, when the current state forbids the move.
    """
    key = (
        (deliveries.c.product_id == product_id)
        & (deliveries.c.version == version)
        & (deliveries.c.party == party)
    )
    values: dict[str, Any] = {"state": state.value, "detail": detail, "updated_at": now}
    if via is not None:
        values["via"] = via
    if receipt is not None:
        values["receipt"] = receipt
    if delivered_at is not None:
        values["delivered_at"] = delivered_at
    forward = update(deliveries).where(
        key, deliveries.c.state.in_([s.value for s in state.before()])
    )
    if conn.execute(forward.values(**values)).rowcount:
        return True
    first = {"product_id": product_id, "version": version, "party": party, "queued_at": now}
    if insert_new(conn, deliveries, {**first, **values}):
        return True
    # Another writer made the row first; move it on if its state allows.
    return bool(conn.execute(forward.values(**values)).rowcount)


def deliveries_of(
    conn: Connection, product_id: str, version: int | None = None
) -> list[DeliveryRow]:
    """Delivery state per party for a product (one version or all)."""
    query = select(deliveries).where(deliveries.c.product_id == product_id)
    if version is not None:
        query = query.where(deliveries.c.version == version)
    rows = conn.execute(query.order_by(deliveries.c.version, deliveries.c.party))
    return [
        DeliveryRow(**{f: getattr(r, f) for f in DeliveryRow.__dataclass_fields__}) for r in rows
    ]


def holders(conn: Connection, product_id: str, version: int) -> list[str]:
    """Parties this node sent the version to (so a recall must follow)."""
    rows = conn.execute(
        select(deliveries.c.party).where(
            deliveries.c.product_id == product_id,
            deliveries.c.version == version,
            deliveries.c.state.in_(
                [DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.QUEUED]
            ),
        )
    )
    return [r.party for r in rows]


def receipted(conn: Connection) -> list[DeliveryRow]:
    """Every delivery confirmed by a signed receipt, newest first."""
    rows = conn.execute(
        select(deliveries)
        .where(deliveries.c.receipt.is_not(None))
        .order_by(deliveries.c.delivered_at.desc())
    )
    return [
        DeliveryRow(**{f: getattr(r, f) for f in DeliveryRow.__dataclass_fields__}) for r in rows
    ]
