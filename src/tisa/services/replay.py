"""Replays of past missile flights for a user: every nation update in a window that the user
may watch, and the fused picture recomputed from that history at a fixed step.

What a replay shows is asked now, as every opening is: each stored update is verified again
(`live.kept`: an update altered at rest is left out, never shown) and the gate asked whether
the user may watch its stream (policy WATCH). The fused picture is then made from those
updates alone, real and exercise apart, so a user never sees a fused track resting on a
stream they may not watch. A replay is bounded (MAX_WINDOW_MS, MAX_UPDATES, and the frames of
`tisa.tracks.replay`); asked for more, it says so (`WindowTooLarge`) rather than serve a part.

Fusing is cached per (request, reader, history): the history key is the count and newest id
of the kept updates, so a replay asked again (the event page, then its replay) is fused once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tisa.domain.policy import WATCH
from tisa.errors import WindowTooLarge
from tisa.relay import live
from tisa.relay.context import NodeContext
from tisa.services.accounts import User
from tisa.services.track_events import Sighted, TrackEvents
from tisa.store import tracks
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.replay import (
    FRESH_MS,
    Frame,
    default_step,
    frame_times,
    last_seen,
    replay,
)
from tisa.tracks.track import TrackStream, TrackUpdate

#: The longest window one replay covers (a lofted ICBM flies about 70 minutes).
MAX_WINDOW_MS = 3 * 3_600_000
#: The most nation updates one replay carries.
MAX_UPDATES = 20_000
CACHE_SIZE = 16


@dataclass(frozen=True)
class Shown:
    """One nation update in a replay, verified, of a stream the user may watch."""

    stream: TrackStream
    update: TrackUpdate
    received_from: str | None


@dataclass(frozen=True)
class Scene:
    """The fused tracks at one frame of a replay, each with whether it is of an exercise."""

    time_ms: int
    fused: tuple[tuple[FusedTrack, bool], ...]


@dataclass(frozen=True)
class Replay:
    """A replayed window: the nation updates in it, oldest first, and the fused frames."""

    event_id: str | None
    start_ms: int
    end_ms: int
    step_ms: int
    updates: tuple[Shown, ...]
    frames: tuple[Scene, ...]
    #: The event's launch time (its fused report time), for 'time since launch'.
    launch_ms: int | None = None

    def tracks(self) -> list[tuple[FusedTrack, bool]]:
        """Each fused track (with whether it is of an exercise) as the replay last showed it."""
        out: list[tuple[FusedTrack, bool]] = []
        for exercise in (False, True):
            frames = [
                Frame(s.time_ms, tuple(t for t, ex in s.fused if ex is exercise))
                for s in self.frames
            ]
            out.extend((t, exercise) for t in last_seen(frames))
        return out


class Replays:
    """Replays of windows and of events. Constructing it does no I/O."""

    def __init__(self, ctx: NodeContext, joins: TrackEvents) -> None:
        self.ctx = ctx
        self._joins = joins
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], Replay] = OrderedDict()

    def window(self, user: User, start_ms: int, end_ms: int, step_ms: int | None = None) -> Replay:
        """Every update `user` may watch from `start_ms` to `end_ms`, and the fused frames.

        Raises:
            TrackInvalid: a negative time, an end before the start, a step under 1 s.
            WindowTooLarge: a window over MAX_WINDOW_MS, more than MAX_UPDATES updates, or
                too many frames for the step.
        """
        return self._replay(user, None, start_ms, end_ms, step_ms, None)

    def event(self, user: User, event_id: str, step_ms: int | None = None) -> Replay:
        """The replay of one launch event: the updates of the tracks that belong to it (see
        `TrackEvents`), from the first seen to the last. An event with no track yet replays
        empty, at the event's time.

        Raises:
            NotFound: no such event among what the user may read.
            TrackInvalid, WindowTooLarge: as `window`.
        """
        members = self._joins.tracks_of(user, event_id)
        at = max(0, round(self._joins.event(user, event_id).time.timestamp() * 1000))
        if not members:
            return Replay(event_id, at, at, step_ms or default_step(at, at), (), (), at)
        start = min(s.first.time_ms for s in members)
        end = max(s.latest.time_ms for s in members)
        return replace(self._replay(user, event_id, start, end, step_ms, members), launch_ms=at)

    def _replay(
        self,
        user: User,
        event_id: str | None,
        start_ms: int,
        end_ms: int,
        step_ms: int | None,
        members: Sequence[Sighted] | None,
    ) -> Replay:
        if end_ms - start_ms > MAX_WINDOW_MS:
            raise WindowTooLarge(
                f"a replay covers at most {MAX_WINDOW_MS // 60_000} minutes, not "
                f"{(end_ms - start_ms) / 60_000:.0f}: choose a shorter window"
            )
        step = step_ms if step_ms is not None else default_step(start_ms, end_ms)
        frame_times(start_ms, end_ms, step)  # the window's checks, before any reading
        with self.ctx.db.read() as conn:
            history = tracks.mark(conn)
            members_key = None if members is None else frozenset(s.key for s in members)
            key = (event_id, members_key, start_ms, end_ms, step, user.reader, history)
            with self._lock:
                found = self._cache.get(key)
                if found is not None:
                    self._cache.move_to_end(key)
                    return found
            # Updates from before the start that are still fresh at the first frame count.
            rows = tracks.history(
                conn, since_ms=max(0, start_ms - FRESH_MS), until_ms=end_ms, limit=MAX_UPDATES + 1
            )
        if len(rows) > MAX_UPDATES:
            raise WindowTooLarge(
                f"more than {MAX_UPDATES} track updates in this window: choose a shorter one"
            )
        keys = None if members is None else {s.key for s in members}
        shown = []
        for held in live.kept(self.ctx, rows):
            if keys is not None and held.update.key not in keys:
                continue
            if not self.ctx.gate.watches(WATCH, user.reader, live.stream_of(held.stream)).allowed:
                continue
            shown.append(Shown(held.stream, held.update, held.row.received_from))
        frames = self._frames(shown, start_ms, end_ms, step)
        made = Replay(
            event_id,
            start_ms,
            end_ms,
            step,
            tuple(s for s in shown if s.update.time_ms >= start_ms),
            frames,
        )
        with self._lock:
            self._cache[key] = made
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return made

    @staticmethod
    def _frames(shown: Sequence[Shown], start: int, end: int, step: int) -> tuple[Scene, ...]:
        """Real and exercise fused apart (an exercise never fuses with a real track), then
        side by side in each frame."""
        kinds = {
            exercise: replay(
                [s.update for s in shown if s.stream.exercise is exercise], start, end, step
            )
            for exercise in (False, True)
        }
        return tuple(
            Scene(
                real.time_ms,
                tuple((t, False) for t in real.fused) + tuple((t, True) for t in drill.fused),
            )
            for real, drill in zip(kinds[False], kinds[True], strict=True)
        )
