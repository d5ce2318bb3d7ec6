"""Factories for track tests: estimates, updates, and a ballistic state in midcourse."""

from __future__ import annotations

import numpy as np

from tisa.tracks import earth
from tisa.tracks.track import FlightPhase, StateEstimate, TrackStatus, TrackUpdate


def estimate(x: np.ndarray, sigma_pos: float = 100.0, sigma_vel: float = 5.0) -> StateEstimate:
    """A state with a diagonal covariance."""
    return StateEstimate.of(x, np.diag([sigma_pos**2] * 3 + [sigma_vel**2] * 3))


def midcourse(lat: float = 39.5, lon: float = 131.0, alt: float = 300e3) -> np.ndarray:
    """A state high over the East Sea heading east at 3 km/s, climbing at 1 km/s."""
    r = earth.to_ecef(lat, lon, alt)
    east, _, up = earth.enu_rotation(lat, lon)
    return np.concatenate([r, 3000.0 * east + 1000.0 * up])


def update(
    nation: str,
    track_id: str,
    state: StateEstimate,
    *,
    time_ms: int = 1_700_000_000_000,
    status: TrackStatus = TrackStatus.ACTIVE,
) -> TrackUpdate:
    """A nation's track update with the rest defaulted."""
    return TrackUpdate(
        nation=nation,
        track_id=track_id,
        network="test net",
        time_ms=time_ms,
        state=state,
        phase=FlightPhase.MIDCOURSE,
        quality=12,
        status=status,
    )
