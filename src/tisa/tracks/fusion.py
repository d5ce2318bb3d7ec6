"""Fusing one missile's tracks from several nations into one, by covariance intersection.

Why covariance intersection (CI): each nation's track error is correlated with the others' in
ways no one can write down: the nations track the same manoeuvres with similar motion models
(common process noise), and a track may already rest on another nation's data. A Kalman-style
combination assumes the errors independent and, when they are not, claims more confidence than
it has. CI is consistent for every cross-correlation: it combines the information matrices with
weights w and 1-w, P^-1 = w Pa^-1 + (1-w) Pb^-1, choosing w to make the result as small as it can
(least trace). The price is some conservatism: never smaller than what either input alone
justifies, never as small as the independent fusion would pretend.

States are time-aligned first: each nation's latest update is coasted to the fusion time with
the trackers' own motion model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from tisa.errors import TrackInvalid
from tisa.tracks.association import associate
from tisa.tracks.earth import Vec
from tisa.tracks.impact import predict_impacts
from tisa.tracks.track import (
    FlightPhase,
    GeodeticPoint,
    ImpactPrediction,
    StateEstimate,
    TrackStatus,
    TrackUpdate,
    check_time,
)
from tisa.tracks.tracker import TrackerConfig, predict


def align(
    estimate: StateEstimate, seconds: float, config: TrackerConfig | None = None
) -> StateEstimate:
    """Coast an estimate `seconds` ahead ballistically, covariance included.

    Raises:
        TrackInvalid: a negative time (estimates are never run backwards).
    """
    if seconds < 0:
        raise TrackInvalid("an estimate is aligned forward in time only")
    if seconds == 0:
        return estimate
    x = np.concatenate([estimate.vector(), np.zeros(3)])
    p = np.zeros((9, 9))
    p[:6, :6] = estimate.matrix()
    config = config or TrackerConfig()
    xs, ps = predict(x, p, seconds, config, jerk=0.0, max_step_s=config.coast_step_s)
    return StateEstimate.of(xs[:6], ps[:6, :6])


def covariance_intersection(a: tuple[Vec, Vec], b: tuple[Vec, Vec]) -> tuple[Vec, Vec, float]:
    """Fuse two estimates (mean, covariance) whose cross-correlation is unknown.

    Returns the fused mean, covariance and the weight w on `a` (least trace over [0, 1]).
    """
    (xa, pa), (xb, pb) = a, b
    ia, ib = np.linalg.inv(pa), np.linalg.inv(pb)

    def fused(w: float) -> Vec:
        return np.asarray(np.linalg.inv(w * ia + (1 - w) * ib), dtype=np.float64)

    best = minimize_scalar(
        lambda w: float(np.trace(fused(w))),
        bounds=(0.0, 1.0),
        method="bounded",
        options={"xatol": 1e-4},
    )
    w = float(best.x)
    # The bounded search stops near, not at, an end; an end is better if it is.
    for end in (0.0, 1.0):
        if np.trace(fused(end)) <= np.trace(fused(w)):
            w = end
    p = fused(w)
    x = p @ (w * ia @ xa + (1 - w) * ib @ xb)
    return x, (p + p.T) / 2, w


def fuse_estimates(estimates: Sequence[StateEstimate]) -> StateEstimate:
    """CI over several estimates, one after another (in the order given).

    Raises:
        TrackInvalid: no estimates.
    """
    if not estimates:
        raise TrackInvalid("nothing to fuse")
    x, p = estimates[0].vector(), estimates[0].matrix()
    for other in estimates[1:]:
        x, p, _ = covariance_intersection((x, p), (other.vector(), other.matrix()))
    return StateEstimate.of(x, p)


@dataclass(frozen=True)
class FusedTrack:
    """The network's track of one missile at one time, from the nation tracks it rests on
    (`sources`, as 'KOR:K0001'). A track that rests on one nation only says so.

    Raises (constructor):
        TrackInvalid: no sources, or a bad time.
    """

    fused_id: str
    time_ms: int
    state: StateEstimate
    phase: FlightPhase
    status: TrackStatus
    sources: tuple[str, ...]
    launch_point: GeodeticPoint | None = None
    impact: ImpactPrediction | None = None

    def __post_init__(self) -> None:
        if not self.sources:
            raise TrackInvalid("a fused track rests on at least one nation's track")
        check_time(self.time_ms)

    @property
    def nations(self) -> tuple[str, ...]:
        """The nations whose tracks it rests on, in order."""
        return tuple(dict.fromkeys(s.split(":", 1)[0] for s in self.sources))

    @property
    def single_nation(self) -> bool:
        """Whether only one nation holds this missile."""
        return len(self.nations) == 1


def latest(updates: Iterable[TrackUpdate]) -> dict[str, TrackUpdate]:
    """Each track's newest update (by time; on a tie, the later one given), by track key."""
    newest: dict[str, TrackUpdate] = {}
    for u in updates:
        held = newest.get(u.key)
        if held is None or u.time_ms >= held.time_ms:
            newest[u.key] = u
    return newest


_STATUS_ORDER = (TrackStatus.ACTIVE, TrackStatus.LOST, TrackStatus.IMPACTED)


@dataclass
class FusionCenter:
    """The hub's fusion: keeps every nation's latest update and, at each fusion time,
    associates and fuses them. Fused ids stay with a missile as nations join or drop.
    Mutable, owned by one caller; no I/O and no clock.

    The fused state is new at every fusion; its predicted impact point (a coast to the
    ground, by far the dearest part) is flown again only once `iip_every_ms` has passed for
    that fused track or the nations it rests on have changed, so a node fusing as updates
    arrive (many times a second) does not fly every missile again each time. Between, the
    last prediction stands: the impact point and time it names are absolute, not stale.
    Those due are flown together in one batch (`predict_impacts`)."""

    max_age_ms: int = 30000
    config: TrackerConfig = field(default_factory=TrackerConfig)
    iip_every_ms: int = 0
    _held: dict[str, TrackUpdate] = field(default_factory=dict)
    _fused_of: dict[str, str] = field(default_factory=dict)
    _first_seen: dict[str, int] = field(default_factory=dict)
    _next_id: int = 1
    # Fused id -> (when flown, sources it rested on, the prediction).
    _impacts: dict[str, tuple[int, tuple[str, ...], ImpactPrediction | None]] = field(
        default_factory=dict
    )

    def take(self, updates: Iterable[TrackUpdate]) -> None:
        """Hold each track's newest update; an impacted track leaves after its last word."""
        for key, u in latest([*self._held.values(), *updates]).items():
            self._held[key] = u
            self._first_seen.setdefault(key, u.time_ms)

    def fuse(self, time_ms: int) -> list[FusedTrack]:
        """The fused picture at `time_ms` from the updates held (none older than
        `max_age_ms`), associated across nations and fused by CI."""
        fresh = [u for u in self._held.values() if 0 <= time_ms - u.time_ms <= self.max_age_ms]
        aligned = {u.key: align(u.state, (time_ms - u.time_ms) / 1000, self.config) for u in fresh}
        by_key = {u.key: u for u in fresh}
        # Larger clusters first: when a track splits off, the id stays with the many.
        clusters = sorted(associate(fresh, aligned), key=lambda c: (-len(c), c))
        fused: list[FusedTrack] = []
        taken: set[str] = set()
        for keys in clusters:
            track = self._fuse_cluster(time_ms, [by_key[k] for k in keys], aligned, taken)
            taken.add(track.fused_id)
            fused.append(track)
        fused = self._with_impacts(fused, time_ms)
        # An impacted track has said its last word; a stale one says nothing more.
        for key, u in list(self._held.items()):
            gone = u.status is TrackStatus.IMPACTED and u.time_ms <= time_ms
            if gone or time_ms - u.time_ms > self.max_age_ms:
                del self._held[key]
        for fused_id in self._impacts.keys() - taken:
            del self._impacts[fused_id]
        return sorted(fused, key=lambda f: f.fused_id)

    def _with_impacts(self, tracks: list[FusedTrack], time_ms: int) -> list[FusedTrack]:
        """Each track with its IIP: flown anew (all in one batch) for those due, the last
        prediction for the rest (see the class); an impacted track has none."""
        due: list[FusedTrack] = []
        kept: dict[str, ImpactPrediction | None] = {}
        for track in tracks:
            if track.status is TrackStatus.IMPACTED:
                kept[track.fused_id] = None
                continue
            flown = self._impacts.get(track.fused_id)
            if flown is not None:
                at, rested_on, prediction = flown
                if rested_on == track.sources and 0 <= time_ms - at < self.iip_every_ms:
                    kept[track.fused_id] = prediction
                    continue
            due.append(track)
        predictions = predict_impacts(
            [(t.state, time_ms) for t in due],
            ballistic_coefficient=self.config.iip_ballistic_coefficient,
        )
        for track, prediction in zip(due, predictions, strict=True):
            self._impacts[track.fused_id] = (time_ms, track.sources, prediction)
            kept[track.fused_id] = prediction
        return [dataclasses.replace(t, impact=kept[t.fused_id]) for t in tracks]

    def _fuse_cluster(
        self,
        time_ms: int,
        members: list[TrackUpdate],
        aligned: dict[str, StateEstimate],
        taken: set[str],
    ) -> FusedTrack:
        members.sort(key=lambda u: (-u.quality, u.key))
        keys = tuple(sorted(u.key for u in members))
        previous = sorted({self._fused_of[k] for k in keys if k in self._fused_of} - taken)
        if previous:
            fused_id = previous[0]
        else:
            fused_id = f"F{self._next_id:04d}"
            self._next_id += 1
        for k in keys:
            self._fused_of[k] = fused_id
        state = fuse_estimates([aligned[u.key] for u in members])
        status = min((u.status for u in members), key=_STATUS_ORDER.index)
        first = min(
            (u for u in members if u.launch_point is not None),
            key=lambda u: (self._first_seen[u.key], u.key),
            default=None,
        )
        return FusedTrack(
            fused_id=fused_id,
            time_ms=time_ms,
            state=state,
            phase=members[0].phase,
            status=status,
            sources=keys,
            launch_point=None if first is None else first.launch_point,
        )
