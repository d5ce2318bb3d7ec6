"""Where a stored version, a delivery and an outgoing message stand, and how each may move."""

from __future__ import annotations

from enum import StrEnum


class ProductState(StrEnum):
    """A stored version: a draft at its originator (editable, unsigned), released (signed and
    queued) there, or received from a peer. A draft becomes released; nothing else changes."""

    DRAFT = "draft"
    RELEASED = "released"
    RECEIVED = "received"


class DeliveryState(StrEnum):
    """Where one version stands for one party, at the node that records it.

    States move forward only: a signed receipt ("delivered") is never walked back by a
    late "sent", and a refusal or cancellation is final for that version unless a signed
    receipt proves it arrived after all.
    """

    QUEUED = "queued"
    HELD = "held"
    SENT = "sent"
    DELIVERED = "delivered"
    DENIED = "denied"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True for a state nothing may follow (other than itself)."""
        return self in (DeliveryState.DELIVERED, DeliveryState.DENIED, DeliveryState.CANCELLED)

    def before(self) -> frozenset[DeliveryState]:
        """The states a delivery may be in for it to move to this one (itself included, so
        its detail can be updated)."""
        return _DELIVERY_BEFORE[self]


_DELIVERY_BEFORE: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.QUEUED: frozenset({DeliveryState.QUEUED, DeliveryState.HELD}),
    DeliveryState.HELD: frozenset({DeliveryState.QUEUED, DeliveryState.HELD}),
    DeliveryState.SENT: frozenset({DeliveryState.QUEUED, DeliveryState.HELD, DeliveryState.SENT}),
    # A signed receipt is proof of delivery, whatever was recorded before it.
    DeliveryState.DELIVERED: frozenset(DeliveryState),
    DeliveryState.DENIED: frozenset({DeliveryState.QUEUED, DeliveryState.HELD}),
    DeliveryState.CANCELLED: frozenset({DeliveryState.QUEUED, DeliveryState.HELD}),
}


class OutboxState(StrEnum):
    """An outgoing message: waiting (pending), taken by the peer (sent), refused for good
    (dead), or withdrawn before it moved (cancelled). Only pending moves on."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    CANCELLED = "cancelled"
