"""A node's state for its administrator: channels, peers, queues, dead letters."""

from __future__ import annotations

from typing import Any

from tisa.audit.coverage import coverage
from tisa.domain.markings import Precedence
from tisa.domain.wire import iso
from tisa.relay.context import NodeContext
from tisa.store import audit, network, outbox, products
from tisa.store.checkpoints import Holding


def node_status(ctx: NodeContext) -> dict[str, Any]:
    """Channels (suspended or up), per-peer last contact and errors, queue depth per lane, how
    much of the audit log each peer holds a checkpoint over, and a warning when the log's
    tail has gone unwitnessed too long: what the API, the UI and `tisa status` show."""
    with ctx.db.read() as conn:
        suspended = network.suspended(conn)
        peers = network.peer_states(conn)
        depth = outbox.depth(conn)
        dead = outbox.dead_letters(conn, limit=20)
        held = products.count(conn)
        alarms = audit.entries(conn, action=audit.Action.INCONSISTENT.value, limit=20)
        witnessed = coverage(conn, ctx.party, ctx.clock())
    channels = []
    for channel in ctx.arrangement.channels:
        if ctx.party not in channel.parties:
            continue
        peer = channel.other(ctx.party)
        state = peers.get(peer, {})
        channels.append(
            {
                "channel": channel.id,
                "peer": peer,
                "state": "suspended" if channel.id in suspended else "up",
                "ceiling": channel.ceiling.label,
                "last_contact": _when(state.get("last_contact")),
                "last_error": state.get("last_error"),
                "last_error_at": _when(state.get("last_error_at")),
                "queue": {p.value: depth.get((peer, p.lane), 0) for p in Precedence},
                "holds_our_checkpoint": _holding(witnessed.holdings.get(peer)),
            }
        )
    return {
        "party": ctx.party,
        "hub": ctx.arrangement.hub,
        "arrangement": ctx.arrangement.digest,
        "products_held": held,
        "channels": channels,
        "dead_letters": dead,
        # A peer whose signed history no longer holds together: for the auditor, at once.
        "audit_alarms": [
            {"at": iso(e.at), "peer": e.party, "problem": e.detail.get("problem")} for e in alarms
        ],
        # Entries no peer holds a checkpoint over could be cut off unseen.
        "audit_witness": {
            "size": witnessed.size,
            "covered": witnessed.covered,
            "unwitnessed": witnessed.unwitnessed,
            "unwitnessed_since": _when(witnessed.since),
            "warning": witnessed.warning(),
        },
    }


def _holding(held: Holding | None) -> dict[str, Any] | None:
    return None if held is None else {"size": held.size, "reported_at": iso(held.reported_at)}


def _when(value: Any) -> str | None:
    return None if value is None else iso(value)
