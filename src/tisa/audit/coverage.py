"""How much of this node's audit log its peers hold a checkpoint over: the part a truncation
could not remove unseen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from tisa.store import audit, checkpoints

# Entries not yet in a checkpoint any peer holds could be cut off unseen; for a few seconds
# that is the normal lag of the heartbeat, beyond this it is worth a warning.
UNWITNESSED_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Coverage:
    """How much of this node's log its peers hold a checkpoint over: the part a truncation
    could not remove unseen."""

    size: int
    holdings: dict[str, checkpoints.Holding]
    covered: int
    since: datetime | None
    overdue: bool
    beyond: list[str]

    @property
    def unwitnessed(self) -> int:
        """Entries after the largest checkpoint any peer holds."""
        return self.size - self.covered

    def warning(self) -> str | None:
        """What an operator must be told, or None while the log's tail is covered (or only
        briefly not)."""
        if self.beyond:
            held = ", ".join(f"{p} ({self.holdings[p].size})" for p in self.beyond)
            return (
                f"peers hold checkpoints larger than this log of {self.size} entries: {held}; "
                "entries were removed"
            )
        if not self.overdue:
            return None
        since = (
            "at a time that cannot be read"
            if self.since is None
            else self.since.isoformat(timespec="seconds")
        )
        return (
            f"{self.unwitnessed} audit entries (from entry {self.covered + 1}, appended "
            f"{since}) are not yet witnessed by any peer, for longer than "
            f"{int(UNWITNESSED_GRACE.total_seconds())} s: they could be cut off unseen"
        )


def coverage(conn: Connection, party: str, now: datetime) -> Coverage:
    """The log's size against the largest checkpoint of ours each peer says it holds.

    A peer's word counts only up to the largest checkpoint this node (`party`) signed: no peer
    can hold more than it was given. A few seconds of entries not yet witnessed is the
    heartbeat's normal lag; `overdue` is set once the oldest of them has waited longer than
    UNWITNESSED_GRACE.
    """
    size, _ = audit.head(conn)
    held = checkpoints.holdings(conn)
    signed = checkpoints.latest_checkpoint(conn, party)
    claimed = max((h.size for h in held.values()), default=0)
    covered = min(size, claimed, 0 if signed is None else signed.size)
    since = audit.entry_time(conn, covered + 1) if covered < size else None
    overdue = covered < size and (since is None or now - since > UNWITNESSED_GRACE)
    beyond = sorted(peer for peer, h in held.items() if h.size > size)
    return Coverage(size, held, covered, since, overdue, beyond)
