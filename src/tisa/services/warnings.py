"""This node's missile warnings: the fused picture of the tracks it holds, held against its
own areas (territory and approximate EEZ), every second.

`Warnings.step` fuses the newest update of each track the node holds (exercise and real
streams apart: an exercise never raises a real warning), feeds each picture to a warning
board, and records each warning raised, withdrawn or ended in the audit log. A supervised
task calls it as updates are kept, and at least every second (`run`), so the picture follows
a missile within milliseconds and a warning still ends when its tracks fall silent; what it
knows is in `active`. Users see a warning only if
they may watch every stream it rests on (policy WATCH).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tisa.domain.markings import rel_to_order
from tisa.domain.policy import WATCH
from tisa.errors import InputInvalid, MarkingInvalid
from tisa.relay import live
from tisa.relay.context import NodeContext
from tisa.services.accounts import User
from tisa.store import audit, tracks
from tisa.tracks.areas import WarningArea
from tisa.tracks.cot import combined_marking
from tisa.tracks.fusion import FusedTrack, FusionCenter
from tisa.tracks.track import TrackStream, TrackUpdate
from tisa.tracks.warning import MissileWarning, WarningAction, WarningBoard

#: The longest the picture goes unredrawn while nothing arrives (s).
EVERY = 1.0
#: The shortest time between the starts of two drawings (s): under a stream of arrivals the
#: picture is drawn some 50 times a second, not without pause, so the node keeps CPU (and the
#: GIL) for taking the updates in.
GAP = 0.02
#: Tracks older than this take no part in the picture (ms).
FRESH_MS = 30_000
#: A fused track's impact point is flown again at most this often (ms; see FusionCenter).
IIP_EVERY_MS = 1_000

_ACTIONS = {
    WarningAction.RAISED: audit.Action.WARNING_RAISED,
    WarningAction.WITHDRAWN: audit.Action.WARNING_WITHDRAWN,
    WarningAction.ENDED: audit.Action.WARNING_ENDED,
}

_log = logging.getLogger("tisa.warnings")


@dataclass
class Picture:
    """The fused tracks of one kind of stream (real or exercise) and the streams they rest on."""

    fused: list[FusedTrack] = field(default_factory=list)
    streams: dict[str, TrackStream] = field(default_factory=dict)


class Warnings:
    """This node's warning boards and the pictures they were last given."""

    def __init__(
        self,
        ctx: NodeContext,
        areas: Callable[[], tuple[WarningArea, ...]],
        reached: Callable[[str, float], None] = lambda originator, seconds: None,
    ) -> None:
        self.ctx = ctx
        self._areas = areas
        # Told, for each update the picture took in, its originator and how long after the
        # update's own time the picture held it (the update-to-fused-picture latency).
        self._reached = reached
        self._boards: dict[bool, WarningBoard] | None = None
        self._active: dict[str, MissileWarning] = {}
        # Kept across steps, so a missile keeps its fused id as nations join or drop.
        self._centers = {
            exercise: FusionCenter(max_age_ms=FRESH_MS, iip_every_ms=IIP_EVERY_MS)
            for exercise in (False, True)
        }
        self.pictures: dict[bool, Picture] = {False: Picture(), True: Picture()}
        self._verified: dict[live.Checked, live.Kept] = {}
        # Track key -> its stream, for every track in a picture or under a warning in force.
        self._streams: dict[bool, dict[str, TrackStream]] = {False: {}, True: {}}

    def step(self) -> list[MissileWarning]:
        """Fuse what the node holds now (an update altered at rest is left out), update the
        boards, and record every change; the warnings in force after it."""
        if self._boards is None:
            try:
                areas = self._areas()
            except InputInvalid as exc:
                # A party with no territory known (another arrangement) still fuses what it
                # holds; it only has nothing of its own to warn for. Said once, not a failure.
                _log.warning("no warning areas for %s: %s", self.ctx.party, exc.reason)
                self._boards = {}
            else:
                self._boards = {
                    exercise: WarningBoard(self.ctx.party, areas) for exercise in (False, True)
                }
        now_ms = int(self.ctx.clock().timestamp() * 1000)
        with self.ctx.db.read() as conn:
            rows = tracks.latest(conn, since_ms=now_ms - FRESH_MS)
        held: dict[bool, list[TrackUpdate]] = {False: [], True: []}
        streams: dict[bool, dict[str, TrackStream]] = {False: {}, True: {}}
        held_now: dict[live.Checked, live.Kept] = {}
        for good in live.kept(self.ctx, rows, self._verified):
            held_now[live.checked(good.row)] = good
            held[good.stream.exercise].append(good.update)
            streams[good.stream.exercise][good.update.key] = good.stream
        # Only the rows still newest are remembered: the memo is as large as the picture.
        self._verified = held_now
        for exercise in (False, True):
            center = self._centers[exercise]
            center.take(held[exercise])
            fused = center.fuse(now_ms)
            self.pictures[exercise] = Picture(fused, streams[exercise])
            board = self._boards.get(exercise)
            if board is None:
                continue
            changes = board.observe(fused, now_ms, exercise=exercise)
            if changes:
                self._record(changes, {**self._streams[exercise], **streams[exercise]})
        # As the boards hold them now: a warning in force follows its track's newest impact
        # point and the nations that join it, not only what it said when raised.
        self._active = {
            f"{'exercise' if exercise else 'live'}:{w.track_id}": w
            for exercise, board in self._boards.items()
            for w in board.active
        }
        # A warning outlives the picture (held until its impact time after its tracks fall
        # silent): the streams it rests on are kept while it stands, so who may see it is
        # still asked of them, and it does not vanish for everyone.
        for exercise in (False, True):
            wanted = set(streams[exercise])
            wanted.update(
                source
                for key, w in self._active.items()
                if key.startswith("exercise:") == exercise
                for source in w.sources
            )
            known = {**self._streams[exercise], **streams[exercise]}
            self._streams[exercise] = {k: v for k, v in known.items() if k in wanted}
        return list(self._active.values())

    def _record(self, changes: list[Any], streams: Mapping[str, TrackStream]) -> None:
        now = self.ctx.clock()
        with self.ctx.db.begin() as conn:
            for change in changes:
                w = change.warning
                audit.record(
                    conn,
                    _ACTIONS[change.action],
                    at=now,
                    actor=self.ctx.party,
                    party=self.ctx.party,
                    detail={
                        "track": w.track_id,
                        "sources": list(w.sources),
                        "areas": list(w.areas),
                        "impact": {
                            "lat": w.impact.point.lat_deg,
                            "lon": w.impact.point.lon_deg,
                            "semi_major_m": w.impact.semi_major_m,
                            "time_ms": w.impact.time_ms,
                        },
                        "exercise": w.exercise,
                        "label": w.label(),
                        **marking_of(w.sources, streams),
                    },
                )
                _log.warning("%s: %s", change.action, w.label())

    async def run(self) -> None:
        """Step whenever updates are kept, and at least every EVERY seconds, until cancelled;
        a failure ends the task for the supervisor to log, count and restart (a node that
        stops warning says so in /healthz). Updates kept during a step wake the next one at
        once: a burst costs one more step, not one per update."""
        arrivals = self.ctx.live.arrivals
        arrivals.bind(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        while True:
            # Taken before the step reads the store, so each was committed before it and is
            # in the picture the step draws.
            taken = arrivals.take()
            started = loop.time()
            await asyncio.to_thread(self.step)
            done_ms = self.ctx.clock().timestamp() * 1000
            for originator, time_ms in taken:
                # History backfilled after an outage is not live; it takes no part.
                if done_ms - time_ms <= FRESH_MS:
                    self._reached(originator, max(done_ms - time_ms, 0.0) / 1000)
            await asyncio.sleep(max(0.0, GAP - (loop.time() - started)))
            await arrivals.wait(EVERY)

    def _may_watch(self, user: User, exercise: bool, sources: Sequence[str]) -> bool:
        """Whether `user` may watch every nation stream `sources` (track keys) rest on."""
        streams = self._streams[exercise]
        return all(
            (s := streams.get(key)) is not None
            and self.ctx.gate.watches(WATCH, user.reader, live.stream_of(s)).allowed
            for key in sources
        )

    def active(self, user: User) -> list[MissileWarning]:
        """The warnings in force that `user` may see: every stream a warning rests on must
        be one the user may watch."""
        return [
            w
            for key, w in self._active.items()
            if self._may_watch(user, key.startswith("exercise:"), w.sources)
        ]

    def fused(self, user: User) -> list[tuple[FusedTrack, bool]]:
        """The fused tracks (with whether each is of an exercise) that `user` may see: every
        nation track one rests on must be of a stream the user may watch."""
        return [
            (track, exercise)
            for exercise, picture in self.pictures.items()
            for track in picture.fused
            if self._may_watch(user, exercise, track.sources)
        ]


def marking_of(sources: Sequence[str], streams: Mapping[str, TrackStream]) -> dict[str, Any]:
    """How a warning resting on `sources` is marked, for whatever passes it on (the
    webhook asks the gate of each stream): every source stream's marking, and their combined
    marking (`tisa.tracks.cot.combined_marking`) for a person to read; none where a source's
    stream is unknown or the markings share no nation."""
    held = [streams[k] for k in sources if k in streams]
    recorded = [
        {"source": k, "marking": streams[k].marking, "exercise": streams[k].exercise}
        for k in sources
        if k in streams
    ]
    try:
        combined = (
            combined_marking(s.markings() for s in held) if len(held) == len(sources) else None
        )
    except MarkingInvalid:
        combined = None
    return {
        "streams": recorded,
        "classification": None if combined is None else combined.classification.label,
        "rel_to": [] if combined is None else list(rel_to_order(combined.rel_to)),
    }
