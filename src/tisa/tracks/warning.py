"""Missile warning: whether a track's predicted impact threatens a nation's warning areas.

**The decision.** A fused track's instantaneous impact point (IIP) carries a 1-sigma error
ellipse. A nation is warned when the ellipse *at a stated confidence* touches one of its areas
(`tisa.tracks.areas`): by default the 95 % ellipse, the 1-sigma axes times
k = sqrt(-2 ln(1 - 0.95)) = 2.448 (the chi-square quantile with 2 degrees of freedom, since the
impact error is a 2-D Gaussian). Computed exactly rather than by drawing the ellipse: the areas
near the IIP are put in an azimuthal equidistant projection about it and whitened (rotated and
divided by the ellipse's axes, so the ellipse becomes the unit circle); the area is touched at
confidence p when its distance from the IIP there, a Mahalanobis distance, is at most k(p).
So a higher confidence never touches fewer areas. Axes under 1 m count as 1 m.

**The state.** A `WarningBoard` holds one nation's warnings, one per fused track:
- raised when the track's ellipse at `WarningPolicy.confidence` first touches an area, unless
  the track is still in BOOST (a thrusting missile's IIP says where it would fall if the motor
  stopped now, not where it will: sweeping from the pad it touches the neighbours' seas;
  `WarningPolicy.during_boost` lifts the gate, bench/warning.py measures both);
- kept, its areas and impact time updated, while the ellipse at the larger
  `hold_confidence` (99 % by default) still touches an area: hysteresis, so an IIP that grazes
  an edge does not raise and withdraw on alternate reports;
- withdrawn once even that ellipse is clear of every area;
- ended when the track impacts, or when it leaves the picture and its predicted impact time has
  passed (a track that falls silent before then keeps its warning: no news is not all clear).

Warnings resting on exercise streams say EXERCISE. Times are integer ms UTC, passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import shapely

from tisa.domain.markings import check_trigraph
from tisa.errors import InputInvalid
from tisa.tracks.areas import LocalProjection, WarningArea, gaussian_radius
from tisa.tracks.earth import Vec
from tisa.tracks.fusion import FusedTrack
from tisa.tracks.track import FlightPhase, ImpactPrediction, TrackStatus, check_time

DEFAULT_CONFIDENCE = 0.95
DEFAULT_HOLD_CONFIDENCE = 0.99
_MIN_AXIS_M = 1.0


def ellipse_scale(confidence: float) -> float:
    """How many sigmas the `confidence` ellipse of a 2-D Gaussian spans:
    sqrt(-2 ln(1 - p)), the root of the chi-square quantile with 2 degrees of freedom.

    Raises:
        InputInvalid: a confidence outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise InputInvalid(f"a confidence is in (0, 1), not {confidence!r}")
    return math.sqrt(-2.0 * math.log1p(-confidence))


def _clip_box(impact: ImpactPrediction, reach_m: float) -> tuple[float, float, float, float]:
    lat, lon = impact.point.lat_deg, impact.point.lon_deg
    dlat = math.degrees(reach_m / gaussian_radius(lat))
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-3)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def touches(impact: ImpactPrediction, area: WarningArea, confidence: float) -> bool:
    """Whether the `confidence` error ellipse of `impact` touches `area` (see the module
    docstring for how).

    Raises:
        InputInvalid: a confidence outside (0, 1).
    """
    k = ellipse_scale(confidence)
    major = max(impact.semi_major_m, _MIN_AXIS_M)
    minor = max(impact.semi_minor_m, _MIN_AXIS_M)
    # Only the area within the ellipse's reach matters; margin for the box's approximation.
    reach = k * major * 1.05 + 1000.0
    near = shapely.clip_by_rect(area.geometry, *_clip_box(impact, reach))
    if near.is_empty:
        return False
    local = LocalProjection(impact.point.lat_deg, impact.point.lon_deg)
    theta = math.radians(impact.orientation_deg)
    along = np.array([math.sin(theta), math.cos(theta)]) / major  # major axis, east-north
    across = np.array([math.cos(theta), -math.sin(theta)]) / minor

    def whiten(lonlat: Vec) -> Vec:
        xy = local.forward(lonlat)
        return np.column_stack([xy @ along, xy @ across])

    whitened = shapely.transform(near, whiten)
    return bool(shapely.distance(whitened, shapely.Point(0.0, 0.0)) <= k)


def threatened(
    impact: ImpactPrediction, areas: Sequence[WarningArea], confidence: float
) -> tuple[WarningArea, ...]:
    """The areas the `confidence` ellipse of `impact` touches, in the order given.

    Raises:
        InputInvalid: a confidence outside (0, 1).
    """
    return tuple(a for a in areas if touches(impact, a, confidence))


@dataclass(frozen=True)
class WarningPolicy:
    """When to warn: raise at `confidence`, hold until the `hold_confidence` ellipse is clear;
    whether a track the tracker still judges BOOST may raise a warning (`during_boost`).

    Raises (constructor):
        InputInvalid: confidences outside (0, 1), or a hold below the raise.
    """

    confidence: float = DEFAULT_CONFIDENCE
    hold_confidence: float = DEFAULT_HOLD_CONFIDENCE
    during_boost: bool = False

    def __post_init__(self) -> None:
        ellipse_scale(self.confidence)
        ellipse_scale(self.hold_confidence)
        if self.hold_confidence < self.confidence:
            raise InputInvalid("a warning is held at a confidence at least its raising one")


@dataclass(frozen=True)
class MissileWarning:
    """A nation's warning of one missile: the fused track it rests on (and that track's
    nation sources), the areas threatened, the predicted impact (point, ellipse, time), when
    it was decided, at what confidence, and whether it is an exercise.

    Raises (constructor):
        InputInvalid: no areas, or a confidence outside (0, 1).
        TrackInvalid: a bad time.
        MarkingInvalid: a nation that is not a trigraph.
    """

    nation: str
    track_id: str
    sources: tuple[str, ...]
    areas: tuple[str, ...]
    impact: ImpactPrediction
    time_ms: int
    confidence: float
    exercise: bool

    def __post_init__(self) -> None:
        check_trigraph(self.nation)
        check_time(self.time_ms)
        ellipse_scale(self.confidence)
        if not self.areas:
            raise InputInvalid("a warning names the areas it is for")

    @property
    def impact_time_ms(self) -> int:
        """Predicted impact time, ms since the epoch, UTC."""
        return self.impact.time_ms

    def label(self) -> str:
        """One line for a person; an exercise warning begins and ends with EXERCISE."""
        when = datetime.fromtimestamp(self.impact.time_ms / 1000, UTC).strftime("%H:%M:%SZ")
        text = (
            f"MISSILE WARNING {self.nation}: track {self.track_id}"
            f" ({', '.join(self.sources)}) may impact {', '.join(self.areas)}"
            f" at {when} (IIP {self.impact.point}, {self.confidence:.0%} ellipse)"
        )
        return f"EXERCISE {text} EXERCISE" if self.exercise else text


class WarningAction(StrEnum):
    """What happened to a warning."""

    RAISED = "raised"
    WITHDRAWN = "withdrawn"  # the impact prediction left every area
    ENDED = "ended"  # the missile came down (or its predicted impact time passed)


@dataclass(frozen=True)
class WarningChange:
    """A warning raised, withdrawn or ended at `time_ms`, with the warning as it stood."""

    action: WarningAction
    warning: MissileWarning
    time_ms: int


@dataclass
class WarningBoard:
    """One nation's warnings, one per fused track, from successive fused pictures. Mutable,
    owned by one caller; no I/O and no clock.

    Raises (constructor):
        InputInvalid: no areas, or areas of another nation.
        MarkingInvalid: a nation that is not a trigraph.
    """

    nation: str
    areas: tuple[WarningArea, ...]
    policy: WarningPolicy = field(default_factory=WarningPolicy)
    _active: dict[str, MissileWarning] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_trigraph(self.nation)
        if not self.areas or any(a.nation != self.nation for a in self.areas):
            raise InputInvalid(f"a warning board holds {self.nation}'s own areas")

    @property
    def active(self) -> tuple[MissileWarning, ...]:
        """The warnings in force, by track, each as of the last picture that held it (its
        impact point, areas and the nation tracks it now rests on)."""
        return tuple(self._active[k] for k in sorted(self._active))

    def observe(
        self, tracks: Iterable[FusedTrack], time_ms: int, *, exercise: bool
    ) -> list[WarningChange]:
        """Take the fused picture at `time_ms` and say which warnings were raised, withdrawn
        or ended by it (in track order).

        Raises:
            TrackInvalid: a bad time.
        """
        check_time(time_ms)
        changes: list[WarningChange] = []
        seen: set[str] = set()
        for track in sorted(tracks, key=lambda t: t.fused_id):
            seen.add(track.fused_id)
            change = self._decide(track, time_ms, exercise)
            if change is not None:
                changes.append(change)
        for track_id in sorted(set(self._active) - seen):
            held = self._active[track_id]
            if held.impact_time_ms < time_ms:
                del self._active[track_id]
                changes.append(WarningChange(WarningAction.ENDED, held, time_ms))
        return changes

    def _decide(self, track: FusedTrack, time_ms: int, exercise: bool) -> WarningChange | None:
        held = self._active.get(track.fused_id)
        if track.status is TrackStatus.IMPACTED:
            if held is None:
                return None
            del self._active[track.fused_id]
            return WarningChange(WarningAction.ENDED, held, time_ms)
        impact = track.impact
        boosting = track.phase is FlightPhase.BOOST and not self.policy.during_boost
        if impact is None or (held is None and boosting):
            return None
        areas = threatened(impact, self.areas, self.policy.confidence)
        if held is None:
            if not areas:
                return None
            warning = self._warning(track, impact, areas, time_ms, exercise)
            self._active[track.fused_id] = warning
            return WarningChange(WarningAction.RAISED, warning, time_ms)
        if not areas:
            areas = threatened(impact, self.areas, self.policy.hold_confidence)
        if not areas:
            del self._active[track.fused_id]
            return WarningChange(WarningAction.WITHDRAWN, held, time_ms)
        self._active[track.fused_id] = self._warning(track, impact, areas, time_ms, exercise)
        return None

    def _warning(
        self,
        track: FusedTrack,
        impact: ImpactPrediction,
        areas: tuple[WarningArea, ...],
        time_ms: int,
        exercise: bool,
    ) -> MissileWarning:
        return MissileWarning(
            nation=self.nation,
            track_id=track.fused_id,
            sources=track.sources,
            areas=tuple(a.name for a in areas),
            impact=impact,
            time_ms=time_ms,
            confidence=self.policy.confidence,
            exercise=exercise,
        )
