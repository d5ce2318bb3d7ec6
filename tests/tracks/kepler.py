"""Closed forms for a ballistic arc over a non-rotating, spherical, airless Earth (radius A,
point-mass gravity): launch at the surface with speed v and flight-path angle gamma; the arc
is a Keplerian ellipse symmetric about apogee."""

from __future__ import annotations

import math

from tisa.tracks.earth import MU, A


def arc(speed: float, gamma_rad: float) -> tuple[float, float, float]:
    """Range angle (rad), flight time (s) and apogee height (m) of the arc."""
    h = A * speed * math.cos(gamma_rad)
    p = h * h / MU
    energy = speed * speed / 2 - MU / A
    a = -MU / (2 * energy)
    e = math.sqrt(max(1 - p / a, 0.0))
    theta = math.acos((p / A - 1) / e)  # true anomaly at launch, in (0, pi)
    half_range = math.pi - theta
    ecc_anomaly = 2 * math.atan(math.sqrt((1 - e) / (1 + e)) * math.tan(theta / 2))
    mean_anomaly = ecc_anomaly - e * math.sin(ecc_anomaly)
    n = math.sqrt(MU / a**3)
    flight = 2 * (math.pi - mean_anomaly) / n
    return 2 * half_range, flight, a * (1 + e) - A
