"""How good the tracks were, measured against the truth the simulator kept.

For each source (a nation, or the fused picture) and each missile:
- when its radars first detected the missile (the fused picture: the first nation's);
- when it first reported the missile after launch;
- the root-mean-square position error of its reports while it was measuring the missile
  (ACTIVE; a long coast out of sight is judged by its IIP, not here);
- the distance from its predicted impact point to the true one, as reported 60 s after launch
  and at apogee (the report nearest each moment, if one is within a report period);
- its average normalised estimation error squared (ANEES, 6 for a consistent 6-state
  estimate) over the same reports as the position error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tisa.tracks import earth
from tisa.tracks.ballistics import Trajectory
from tisa.tracks.scenario import ScenarioResult
from tisa.tracks.track import ImpactPrediction, StateEstimate, TrackStatus

FUSED = "fused"


@dataclass(frozen=True)
class Score:
    """One source's record on one missile; None where it never had the figure."""

    source: str
    missile: str
    reports: int
    first_detection_s: float | None
    first_report_s: float | None
    position_rms_m: float | None
    iip_error_60s_m: float | None
    iip_error_apogee_m: float | None
    anees: float | None


@dataclass(frozen=True)
class _Report:
    time_ms: int
    state: StateEstimate
    status: TrackStatus
    impact: ImpactPrediction | None


def nees(state: StateEstimate, truth: np.ndarray) -> float:
    """Normalised estimation error squared of a state against the true 6-state."""
    e = state.vector() - truth
    return float(e @ np.linalg.solve(state.matrix(), e))


def _iip_error(report: _Report | None, truth: Trajectory) -> float | None:
    if report is None or report.impact is None:
        return None
    lat, lon, _ = earth.to_geodetic(truth.impact_ecef)
    point = report.impact.point
    return earth.surface_distance(point.lat_deg, point.lon_deg, lat, lon)


def _nearest(reports: Sequence[_Report], time_ms: int, within_ms: int) -> _Report | None:
    best = min(reports, key=lambda r: abs(r.time_ms - time_ms), default=None)
    return best if best is not None and abs(best.time_ms - time_ms) <= within_ms else None


def _score(
    source: str,
    missile: str,
    reports: Sequence[_Report],
    truth: Trajectory,
    period_ms: int,
    detected_ms: int | None,
) -> Score:
    errors = []
    consistency = []
    for r in reports:
        true = truth.state_at(r.time_ms)
        if true is not None and r.status is TrackStatus.ACTIVE:
            errors.append(float(np.sum((r.state.vector()[:3] - true[:3]) ** 2)))
            consistency.append(nees(r.state, true))
    first = min((r.time_ms for r in reports), default=None)
    return Score(
        source=source,
        missile=missile,
        reports=len(reports),
        first_detection_s=None if detected_ms is None else (detected_ms - truth.launch_ms) / 1000,
        first_report_s=None if first is None else (first - truth.launch_ms) / 1000,
        position_rms_m=math.sqrt(sum(errors) / len(errors)) if errors else None,
        iip_error_60s_m=_iip_error(_nearest(reports, truth.launch_ms + 60000, period_ms), truth),
        iip_error_apogee_m=_iip_error(_nearest(reports, truth.apogee_ms, period_ms), truth),
        anees=sum(consistency) / len(consistency) if consistency else None,
    )


def score(result: ScenarioResult) -> list[Score]:
    """Every nation's and the fused picture's score on every missile."""
    period = result.scenario.report_period_ms
    scores = []
    for missile, truth in sorted(result.truths.items()):
        for nation, updates in result.updates.items():
            mine = [
                _Report(u.time_ms, u.state, u.status, u.impact)
                for u in updates
                if result.truth_of.get(u.key) == missile
            ]
            detected = result.first_plots.get((nation, missile))
            scores.append(_score(nation, missile, mine, truth, period, detected))
        fused = [
            _Report(f.time_ms, f.state, f.status, f.impact)
            for f in result.fused
            if result.truth_of.get(f.sources[0]) == missile
        ]
        detected = min(
            (t for (_, m), t in result.first_plots.items() if m == missile), default=None
        )
        scores.append(_score(FUSED, missile, fused, truth, period, detected))
    return scores
