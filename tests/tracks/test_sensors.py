"""Radars see what geometry allows: over the horizon, within range, with their noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.errors import InputInvalid
from tisa.tracks import earth
from tisa.tracks.ballistics import PROFILES, MissileType, fly
from tisa.tracks.sensors import PERFORMANCE, Radar, RadarPerformance, SensorNetwork
from tisa.tracks.sites import LAUNCH_SITES
from tisa.tracks.track import GeodeticPoint

RADAR = Radar("test", GeodeticPoint(36.95, 127.50, 150.0), PERFORMANCE["green-pine"])


def _target(bearing_deg: float, ground_km: float, alt_m: float) -> np.ndarray:
    """A point `ground_km` from the radar along `bearing_deg` (great circle), `alt_m` up."""
    lat0, lon0 = math.radians(RADAR.site.lat_deg), math.radians(RADAR.site.lon_deg)
    d, b = ground_km * 1000 / earth.A, math.radians(bearing_deg)
    lat = math.asin(math.sin(lat0) * math.cos(d) + math.cos(lat0) * math.sin(d) * math.cos(b))
    lon = lon0 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(lat0), math.cos(d) - math.sin(lat0) * math.sin(lat)
    )
    return earth.to_ecef(math.degrees(lat), math.degrees(lon), alt_m)


@settings(max_examples=200, deadline=None)
@given(
    bearing=st.floats(0.0, 360.0),
    ground_km=st.floats(50.0, 3000.0),
    alt_m=st.floats(0.0, 500e3),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_target_below_the_horizon_is_never_measured(
    bearing: float, ground_km: float, alt_m: float, seed: int
) -> None:
    target = _target(bearing, ground_km, alt_m)
    _, _, elevation = RADAR.aer(target)
    plot = RADAR.measure(target, 0, "m", np.random.default_rng(seed))
    if elevation < math.radians(RADAR.performance.min_elevation_deg):
        assert plot is None
        assert not RADAR.sees(target)


def test_curvature_hides_a_low_target_that_a_high_one_at_the_same_distance_shows() -> None:
    # 600 km out, the horizon (1 degree up) is ~39 km high: 20 km is hidden, 60 km seen.
    assert not RADAR.sees(_target(0.0, 600.0, 20e3))
    assert RADAR.sees(_target(0.0, 600.0, 60e3))


def test_beyond_its_range_a_radar_sees_nothing() -> None:
    assert RADAR.sees(_target(0.0, 800.0, 300e3))
    assert not RADAR.sees(_target(0.0, 1000.0, 300e3))


def test_a_converted_plot_is_unbiased_and_its_covariance_fits_the_scatter() -> None:
    target = _target(10.0, 500.0, 100e3)
    rng = np.random.default_rng(7)
    points = []
    for _ in range(2000):
        plot = RADAR.measure(target, 0, "m", rng)
        if plot is not None:
            points.append(RADAR.to_ecef(plot)[0])
    scatter = np.array(points) - target
    one = RADAR.measure(target, 0, "m", np.random.default_rng(1))
    assert one is not None
    _, cov = RADAR.to_ecef(one)
    nees = np.mean([e @ np.linalg.solve(cov, e) for e in scatter])
    assert np.linalg.norm(scatter.mean(axis=0)) < 3 * math.sqrt(np.trace(cov) / len(points))
    assert 2.7 < nees < 3.3


def test_the_same_seed_gives_the_same_plots_and_kor_sees_a_launch_before_japan() -> None:
    site = LAUNCH_SITES["sunan"].point
    truth = fly(PROFILES[MissileType.SRBM], site.lat_deg, site.lon_deg, launch_ms=0)
    kor, jpn = SensorNetwork.default("KOR"), SensorNetwork.default("JPN")
    first = kor.observe({"m": truth}, 0, truth.impact_ms, np.random.default_rng(3))
    again = kor.observe({"m": truth}, 0, truth.impact_ms, np.random.default_rng(3))
    assert first == again
    assert [p.time_ms for p in first] == sorted(p.time_ms for p in first)
    japanese = jpn.observe({"m": truth}, 0, truth.impact_ms, np.random.default_rng(3))
    assert first[0].time_ms < japanese[0].time_ms


def test_networks_and_performances_check_themselves() -> None:
    with pytest.raises(InputInvalid):
        SensorNetwork("KOR", "empty", ())
    with pytest.raises(InputInvalid):
        SensorNetwork("KOR", "twice", (RADAR, RADAR))
    with pytest.raises(InputInvalid):
        RadarPerformance(900e3, 1.0, 0, 150.0, 2e-3)
    with pytest.raises(InputInvalid):
        RadarPerformance(900e3, 1.0, 2000, 150.0, 2e-3, detection_probability=1.5)
    with pytest.raises(InputInvalid):
        SensorNetwork.default("KOR").radar("nowhere")
