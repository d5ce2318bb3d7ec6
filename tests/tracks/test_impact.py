"""The instantaneous impact point and its error ellipse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kepler import arc
from tracks_factories import estimate, midcourse

from tisa.tracks import earth
from tisa.tracks.earth import EarthModel
from tisa.tracks.impact import ellipse, predict_impact, predict_impacts
from tisa.tracks.track import StateEstimate

POINT_MASS = EarthModel(j2=False, rotating=False)


@pytest.mark.parametrize(("speed", "gamma"), [(2500.0, 45.0), (4000.0, 35.0), (6000.0, 70.0)])
def test_the_iip_of_a_launch_matches_the_closed_form(speed: float, gamma: float) -> None:
    range_angle, flight_s, _ = arc(speed, math.radians(gamma))
    g = math.radians(gamma)
    x = np.array([earth.A + 1.0, 0.0, 0.0, speed * math.sin(g), speed * math.cos(g), 0.0])
    iip = predict_impact(estimate(x), 1_000_000, model=POINT_MASS)
    assert iip is not None
    # The equator is where the ellipsoid and the sphere of radius A meet.
    assert iip.point.lat_deg == pytest.approx(0.0, abs=1e-6)
    assert math.radians(iip.point.lon_deg) * earth.A == pytest.approx(
        range_angle * earth.A, abs=200.0
    )
    assert (iip.time_ms - 1_000_000) / 1000 == pytest.approx(flight_s, abs=1.0)


def test_the_ellipse_of_a_covariance() -> None:
    major, minor, orientation = ellipse(np.diag([4.0, 1.0]))
    assert (major, minor, orientation) == pytest.approx((2.0, 1.0, 90.0))
    major, minor, orientation = ellipse(np.diag([1.0, 9.0]))
    assert (major, minor, orientation) == pytest.approx((3.0, 1.0, 0.0))
    turn = math.radians(30.0)
    axis = np.array([math.sin(turn), math.cos(turn)])
    cov = 16 * np.outer(axis, axis) + np.eye(2) * 0.25
    major, minor, orientation = ellipse(cov)
    assert major == pytest.approx(math.sqrt(16.25))
    assert minor == pytest.approx(0.5)
    assert orientation == pytest.approx(30.0)


def test_the_ellipse_scales_with_the_track_and_lies_along_the_flight() -> None:
    x = midcourse()
    tight = predict_impact(estimate(x, 50.0, 1.0), 0)
    loose = predict_impact(estimate(x, 100.0, 2.0), 0)
    assert tight is not None
    assert loose is not None
    assert loose.semi_major_m == pytest.approx(2 * tight.semi_major_m, rel=1e-3)
    assert loose.point == tight.point
    # Heading east: the long axis of the error is along the track, within 20 degrees.
    assert abs(tight.orientation_deg - 90.0) < 20.0
    assert tight.semi_minor_m < tight.semi_major_m


def test_no_iip_for_a_state_that_never_comes_down() -> None:
    r = earth.to_ecef(0.0, 0.0, 500e3)
    up = r / np.linalg.norm(r)
    x = np.concatenate([r, 12000.0 * up])
    assert predict_impact(StateEstimate.of(x, np.eye(6)), 0, max_seconds=3600) is None


@settings(max_examples=15)
@given(
    st.lists(
        st.tuples(st.floats(36.0, 42.0), st.floats(126.0, 140.0), st.floats(20e3, 900e3)),
        min_size=1,
        max_size=6,
    )
)
def test_coasts_flown_in_one_batch_land_exactly_where_each_lands_alone(
    places: list[tuple[float, float, float]],
) -> None:
    """Each coast of a batch keeps its own steps: the batch changes the cost, not a metre."""
    estimates = [
        (estimate(midcourse(lat, lon, alt)), 1_000 * i) for i, (lat, lon, alt) in enumerate(places)
    ]
    alone = [predict_impact(e, t) for e, t in estimates]
    assert predict_impacts(estimates) == alone
    assert predict_impacts([]) == []
