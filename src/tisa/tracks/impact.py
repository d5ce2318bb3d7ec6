"""The instantaneous impact point (IIP): where a track would come down if it coasted now.

The state is propagated ballistically (gravity with J2, the rotating frame; in vacuum unless
a ballistic coefficient is assumed) to the WGS-84 ellipsoid. Its 1-sigma error ellipse is the
track covariance carried through the linearised map from state to impact point: the Jacobian
by finite differences (six perturbed coasts flown together with the nominal one), projected
on the local east-north plane at the nominal impact point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tisa.tracks import earth
from tisa.tracks.ballistics import coast_to_ground
from tisa.tracks.earth import WGS84, EarthModel
from tisa.tracks.track import GeodeticPoint, ImpactPrediction, StateEstimate

# Perturbations for the Jacobian: small against the errors, large against rounding.
_STEP = np.array([10.0, 10.0, 10.0, 0.01, 0.01, 0.01])


def ellipse(cov2: np.ndarray) -> tuple[float, float, float]:
    """Semi-major, semi-minor (m) and orientation (degrees clockwise from north, [0, 180))
    of the 1-sigma ellipse of a 2x2 east-north covariance."""
    sym = (cov2 + cov2.T) / 2
    values, vectors = np.linalg.eigh(sym)
    minor, major = (math.sqrt(max(float(v), 0.0)) for v in values)
    east, north = vectors[0, 1], vectors[1, 1]
    orientation = math.degrees(math.atan2(east, north)) % 180.0
    return major, minor, 0.0 if orientation >= 180.0 else orientation


def predict_impact(
    estimate: StateEstimate,
    time_ms: int,
    *,
    ballistic_coefficient: float | None = None,
    max_seconds: float = 7200.0,
    model: EarthModel = WGS84,
) -> ImpactPrediction | None:
    """The IIP of `estimate` (taken at `time_ms`) with its error ellipse, or None if the
    coast does not reach the ground within `max_seconds` (or starts below it)."""
    (prediction,) = predict_impacts(
        [(estimate, time_ms)],
        ballistic_coefficient=ballistic_coefficient,
        max_seconds=max_seconds,
        model=model,
    )
    return prediction


def predict_impacts(
    estimates: Sequence[tuple[StateEstimate, int]],
    *,
    ballistic_coefficient: float | None = None,
    max_seconds: float = 7200.0,
    model: EarthModel = WGS84,
) -> list[ImpactPrediction | None]:
    """`predict_impact` of each (estimate, time) pair, their coasts flown together in one
    batch (each with its own steps, as it would fly alone): a picture of many missiles costs
    little more than one."""
    if not estimates:
        return []
    rows = np.vstack([np.vstack([e.vector(), e.vector() + np.diag(_STEP)]) for e, _ in estimates])
    groups = np.repeat(np.arange(len(estimates), dtype=np.int64), 7)
    impacts, seconds = coast_to_ground(
        rows,
        groups=groups,
        ballistic_coefficient=ballistic_coefficient,
        max_seconds=max_seconds,
        model=model,
    )
    out: list[ImpactPrediction | None] = []
    for i, (estimate, time_ms) in enumerate(estimates):
        mine, when = impacts[7 * i : 7 * i + 7], seconds[7 * i]
        if not np.all(np.isfinite(mine)) or not when > 0:
            out.append(None)
            continue
        lat, lon, alt = earth.to_geodetic(mine[0])
        rotation = earth.enu_rotation(lat, lon)[:2]
        jac = (rotation @ (mine[1:] - mine[0]).T) / _STEP
        major, minor, orientation = ellipse(jac @ estimate.matrix() @ jac.T)
        out.append(
            ImpactPrediction(
                point=GeodeticPoint(lat, lon, alt),
                semi_major_m=major,
                semi_minor_m=minor,
                orientation_deg=orientation,
                time_ms=time_ms + round(float(when) * 1000),
            )
        )
    return out
