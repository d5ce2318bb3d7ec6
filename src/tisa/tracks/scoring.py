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

And, sample by sample (`fused_samples`): each fused report of a missile in flight against the
nation estimates it was fused from, each brought to the same time as the fusion brought it,
so "is the fused track better placed than the best nation's?" is asked of the very inputs;
`anees_interval` is the two-sided chi-square band an ANEES over N samples falls in when the
estimates are consistent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from tisa.errors import InputInvalid
from tisa.tracks import earth
from tisa.tracks.ballistics import Trajectory
from tisa.tracks.fusion import align
from tisa.tracks.scenario import ScenarioResult
from tisa.tracks.track import FlightPhase, ImpactPrediction, StateEstimate, TrackStatus, TrackUpdate

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


def anees_interval(
    samples: int, dimension: int = 6, confidence: float = 0.95
) -> tuple[float, float]:
    """The two-sided `confidence` band of the ANEES of `samples` independent consistent
    `dimension`-state estimates: N x ANEES is chi-square with N x dimension degrees of freedom.
    On the scale of `nees` (`dimension` when consistent); divide by `dimension` for the scale
    where 1 is consistent. Successive reports of one track are not independent, so over a
    track's reports the band is narrower than the truth would allow: a yardstick, not a test.

    Raises:
        InputInvalid: no samples, a dimension under one, or a confidence outside (0, 1).
    """
    if samples < 1 or dimension < 1 or not 0 < confidence < 1:
        raise InputInvalid("an ANEES band needs samples >= 1, dimension >= 1, 0 < confidence < 1")
    dof = samples * dimension
    tail = (1 - confidence) / 2
    return float(chi2.ppf(tail, dof)) / samples, float(chi2.ppf(1 - tail, dof)) / samples


@dataclass(frozen=True)
class FusedSample:
    """One fused report of a missile in flight (ACTIVE, between launch and impact) against
    truth, with the nation estimates it was fused from, each aligned to the report's time as
    the fusion aligned it: position errors (m), NEES and claimed position sigma (m, the root
    of the covariance's position trace) by nation."""

    missile: str
    time_ms: int
    since_launch_s: float
    phase: FlightPhase
    error_m: float
    nees: float
    source_error_m: dict[str, float]
    source_nees: dict[str, float]
    source_sigma_m: dict[str, float]

    @property
    def nations(self) -> tuple[str, ...]:
        """The nations whose tracks this report rests on."""
        return tuple(self.source_error_m)

    @property
    def best_single_m(self) -> float:
        """The smallest position error among the nation estimates fused (known only with
        the truth in hand)."""
        return min(self.source_error_m.values())

    @property
    def most_confident(self) -> str:
        """The nation whose estimate claims the smallest position sigma: the one a hub that
        could only pick, not fuse, would pick."""
        return min(self.source_sigma_m, key=lambda n: (self.source_sigma_m[n], n))


def _newest_at(updates: Sequence[TrackUpdate], time_ms: int) -> TrackUpdate | None:
    held = [u for u in updates if u.time_ms <= time_ms]
    return max(held, key=lambda u: u.time_ms, default=None)


def fused_samples(result: ScenarioResult) -> list[FusedSample]:
    """Every fused report of a missile in flight, set against its nation inputs and truth.

    A report whose sources follow different missiles is named after its first source's.
    """
    config = result.scenario.tracker
    by_key: dict[str, list[TrackUpdate]] = {}
    for updates in result.updates.values():
        for u in updates:
            by_key.setdefault(u.key, []).append(u)
    samples = []
    for f in result.fused:
        missile = result.truth_of.get(f.sources[0])
        truth = None if missile is None else result.truths[missile]
        true = None if truth is None else truth.state_at(f.time_ms)
        if missile is None or truth is None or true is None or f.status is not TrackStatus.ACTIVE:
            continue
        errors: dict[str, float] = {}
        consistency: dict[str, float] = {}
        sigma: dict[str, float] = {}
        for key in f.sources:
            source = _newest_at(by_key.get(key, []), f.time_ms)
            if source is None:
                continue
            state = align(source.state, (f.time_ms - source.time_ms) / 1000, config)
            nation = source.nation
            error = float(np.linalg.norm(state.vector()[:3] - true[:3]))
            # Two tracks of one nation in one fused report cannot happen (association keeps
            # them apart); keep the better if it ever did.
            if nation not in errors or error < errors[nation]:
                errors[nation] = error
                consistency[nation] = nees(state, true)
                sigma[nation] = state.position_sigma_m
        if not errors:
            continue
        samples.append(
            FusedSample(
                missile=missile,
                time_ms=f.time_ms,
                since_launch_s=(f.time_ms - truth.launch_ms) / 1000,
                phase=f.phase,
                error_m=float(np.linalg.norm(f.state.vector()[:3] - true[:3])),
                nees=nees(f.state, true),
                source_error_m=errors,
                source_nees=consistency,
                source_sigma_m=sigma,
            )
        )
    return samples
