"""Live missile tracks: a node's own tracker publishes them; users watch what they may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tisa.domain.policy import WATCH
from tisa.relay import live
from tisa.relay.context import NodeContext
from tisa.services.accounts import Role, User
from tisa.store import tracks
from tisa.tracks.track import TrackStream, TrackUpdate

#: Nothing older than this is shown as live (the issue's default: one second).
MAX_AGE_MS = 1_000
#: Tracks with no update for this long are history, no longer listed (the pages poll this).
WINDOW_MS = 3_600_000


@dataclass(frozen=True)
class Watched:
    """The newest update of one track as a user sees it: verified now, with how old it is
    and whether it is recent enough to be shown as live."""

    stream: TrackStream
    update: TrackUpdate
    received_from: str | None
    age_ms: int
    live: bool


class Tracks:
    """Publishing this node's tracks and watching everyone's."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def publish(self, user: User, stream: TrackStream, updates: Sequence[TrackUpdate]) -> int:
        """Sign and keep this node's own track updates and stream them to the hub, which
        passes them on where the originator's live-track consent allows; how many were new.

        Raises:
            AccessDenied: not a release officer (publishing releases to partners).
            InputInvalid: not this node's stream, or an update not of it.
        """
        user.require(Role.RELEASE_OFFICER)
        return live.publish(self.ctx, stream, updates)

    def watch(self, user: User, *, max_age_ms: int = MAX_AGE_MS) -> list[Watched]:
        """The newest update of each track updated within the last hour that `user` may see
        (clearance and need-to-know, asked of the gate now; each update verified again, one
        altered at rest left out), newest first. An update older than `max_age_ms` is shown,
        but not as live."""
        now_ms = int(self.ctx.clock().timestamp() * 1000)
        with self.ctx.db.read() as conn:
            rows = tracks.latest(conn, since_ms=now_ms - WINDOW_MS)
        shown = []
        for held in live.kept(self.ctx, rows):
            stream, update = held.stream, held.update
            if not self.ctx.gate.watches(WATCH, user.reader, live.stream_of(stream)).allowed:
                continue
            age = max(0, now_ms - update.time_ms)
            shown.append(Watched(stream, update, held.row.received_from, age, age <= max_age_ms))
        return shown
