"""The join of live missile tracks with the event picture: which launch event each track a
user may watch belongs to.

Computed at read time, from what the user may see now: the events from the products they may
read (`Events`), the tracks from the streams they may watch (policy WATCH, every stored row
verified again by `live.kept`). So a track seen before any report shows on the tracks page
alone, and joins its event as soon as a report of the launch arrives; nothing is stored for
the join, and nothing has to be redone when a report is recalled or a consent changes. The
rule (launch point and first-seen time within the arrangement's launch windows) is
`tisa.fusion.membership`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tisa.domain.policy import WATCH
from tisa.fusion import Event
from tisa.fusion.membership import LaunchMark, Sighting, event_of, launches_of
from tisa.relay import live
from tisa.relay.context import NodeContext
from tisa.services.accounts import User
from tisa.services.events import Events
from tisa.store import tracks
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.track import GeodeticPoint, TrackStream, TrackUpdate


@dataclass(frozen=True)
class Sighted:
    """One nation track a user may watch: its first update kept and its newest, both verified."""

    stream: TrackStream
    first: TrackUpdate
    latest: TrackUpdate
    received_from: str | None

    @property
    def key(self) -> str:
        """'KOR:K0001'."""
        return self.latest.key

    @property
    def launch_point(self) -> GeodeticPoint | None:
        """The newest launch point the nation derived (the track's first, if the newest has
        none)."""
        return self.latest.launch_point or self.first.launch_point


def sighting(launch: GeodeticPoint | None, first_seen_ms: int) -> Sighting:
    """A track as the join's rule takes it: plain degrees and seconds."""
    where = None if launch is None else (launch.lat_deg, launch.lon_deg)
    return Sighting(where, first_seen_ms / 1000)


class TrackEvents:
    """Which event each track belongs to, per user. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext, events: Events) -> None:
        self.ctx = ctx
        self._events = events

    def sighted(self, user: User) -> list[Sighted]:
        """Every nation track kept here that `user` may watch (WATCH asked now; a track whose
        first or newest update no longer verifies is left out), newest first."""
        with self.ctx.db.read() as conn:
            newest, firsts = tracks.latest(conn), tracks.firsts(conn)
        first_of = {held.update.key: held.update for held in live.kept(self.ctx, firsts)}
        shown = []
        for held in live.kept(self.ctx, newest):
            first = first_of.get(held.update.key)
            if first is None:
                continue
            if not self.ctx.gate.watches(WATCH, user.reader, live.stream_of(held.stream)).allowed:
                continue
            shown.append(Sighted(held.stream, first, held.update, held.row.received_from))
        return shown

    def event(self, user: User, event_id: str) -> Event:
        """One event the user may see.

        Raises:
            NotFound: as `Events.event`.
        """
        return self._events.event(user, event_id)

    def _launches(self, user: User) -> dict[str, tuple[LaunchMark, ...]]:
        return launches_of(self._events.events(user))

    def joined(self, user: User) -> dict[str, str]:
        """The event id of each nation track `user` may watch that belongs to one (by key)."""
        launches = self._launches(user)
        windows = self.ctx.arrangement.fusion
        found = {}
        for s in self.sighted(user):
            event_id = event_of(sighting(s.launch_point, s.first.time_ms), launches, windows)
            if event_id is not None:
                found[s.key] = event_id
        return found

    def tracks_of(self, user: User, event_id: str) -> list[Sighted]:
        """The nation tracks `user` may watch that belong to the event, oldest first.

        Raises:
            NotFound: no such event among what the user may read.
        """
        self.event(user, event_id)
        launches = self._launches(user)
        windows = self.ctx.arrangement.fusion
        members = [
            s
            for s in self.sighted(user)
            if event_of(sighting(s.launch_point, s.first.time_ms), launches, windows) == event_id
        ]
        return sorted(members, key=lambda s: (s.first.time_ms, s.key))

    def events_of_fused(self, user: User, fused: Sequence[FusedTrack]) -> list[str | None]:
        """The event each fused track belongs to (None where none), in the order given: its
        own launch point, first seen when the first of its nation tracks was."""
        first_seen = {s.key: s.first.time_ms for s in self.sighted(user)}
        launches = self._launches(user)
        windows = self.ctx.arrangement.fusion
        found: list[str | None] = []
        for track in fused:
            seen = [first_seen[k] for k in track.sources if k in first_seen]
            found.append(
                event_of(sighting(track.launch_point, min(seen)), launches, windows)
                if seen
                else None
            )
        return found
