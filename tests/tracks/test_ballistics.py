"""The equations of motion and the calibrated missile profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kepler import arc

from tisa.errors import InputInvalid
from tisa.tracks import earth
from tisa.tracks.ballistics import (
    PROFILES,
    MissileProfile,
    MissileType,
    acceleration,
    coast_to_ground,
    fly,
    rk4_step,
)
from tisa.tracks.earth import MU, OMEGA_VEC, EarthModel

POINT_MASS = EarthModel(j2=False, rotating=False)


def _equatorial(speed: float, gamma_deg: float, alt: float = 0.0) -> np.ndarray:
    g = math.radians(gamma_deg)
    return np.array([earth.A + alt, 0.0, 0.0, speed * math.sin(g), speed * math.cos(g), 0.0])


def _fly(state: np.ndarray, seconds: float, model: EarthModel, dt: float = 1.0) -> np.ndarray:
    for _ in range(round(seconds / dt)):
        state = rk4_step(0.0, state, dt, lambda _t, r, v: acceleration(r, v, None, model))
    return state


@settings(max_examples=25, deadline=None)
@given(
    speed=st.floats(1000.0, 7000.0),
    gamma=st.floats(10.0, 80.0),
    alt=st.floats(100e3, 1000e3),
)
def test_a_point_mass_coast_keeps_energy_and_angular_momentum(
    speed: float, gamma: float, alt: float
) -> None:
    start = _equatorial(speed, gamma, alt)
    end = _fly(start, 200.0, POINT_MASS)

    def energy(s: np.ndarray) -> float:
        return float(s[3:] @ s[3:] / 2 - MU / np.linalg.norm(s[:3]))

    assert energy(end) == pytest.approx(energy(start), rel=1e-9, abs=1e-3)
    assert np.allclose(np.cross(end[:3], end[3:]), np.cross(start[:3], start[3:]), rtol=1e-9)


@settings(max_examples=20, deadline=None)
@given(speed=st.floats(1000.0, 6000.0), gamma=st.floats(20.0, 70.0))
def test_in_the_turning_frame_the_jacobi_integral_holds(speed: float, gamma: float) -> None:
    start = _equatorial(speed, gamma, 200e3)
    end = _fly(start, 200.0, EarthModel(j2=False, rotating=True))

    def jacobi(s: np.ndarray) -> float:
        spin = np.cross(OMEGA_VEC, s[:3])
        return float(s[3:] @ s[3:] / 2 - MU / np.linalg.norm(s[:3]) - spin @ spin / 2)

    assert jacobi(end) == pytest.approx(jacobi(start), rel=1e-9)


@pytest.mark.parametrize(("speed", "gamma"), [(3000.0, 45.0), (5000.0, 30.0), (6500.0, 60.0)])
def test_a_coast_over_a_still_round_airless_earth_matches_the_closed_form(
    speed: float, gamma: float
) -> None:
    range_angle, flight_s, _ = arc(speed, math.radians(gamma))
    start = _equatorial(speed, gamma, 1.0)  # a metre up, so it starts in the air
    impact, seconds = coast_to_ground(start[None, :], model=POINT_MASS)
    got_angle = math.atan2(impact[0, 1], impact[0, 0])
    assert earth.A * got_angle == pytest.approx(earth.A * range_angle, abs=200.0)
    assert seconds[0] == pytest.approx(flight_s, abs=1.0)


def test_a_state_that_escapes_never_comes_down() -> None:
    impact, seconds = coast_to_ground(_equatorial(12000.0, 45.0, 100e3)[None, :], max_seconds=3600)
    assert np.isnan(seconds[0])
    assert np.isnan(impact[0]).all()


def test_gravity_at_the_pole_and_the_equator() -> None:
    equator = np.linalg.norm(earth.gravity(earth.to_ecef(0.0, 0.0, 0.0)))
    pole = np.linalg.norm(earth.gravity(earth.to_ecef(90.0, 0.0, 0.0)))
    # Gravitation alone (no centrifugal term): ~9.81 at the equator, ~9.83 at the poles.
    assert 9.80 < equator < 9.82
    assert 9.83 < pole < 9.84


def test_the_frame_terms_are_coriolis_and_centrifugal() -> None:
    r, v = np.array([4e6, 3e6, 4e6]), np.array([100.0, -2000.0, 300.0])
    expected = -2 * np.cross(OMEGA_VEC, v) - np.cross(OMEGA_VEC, np.cross(OMEGA_VEC, r))
    assert np.allclose(earth.frame_acceleration(r, v), expected)


def test_a_profile_that_does_not_hold_is_refused() -> None:
    good = PROFILES[MissileType.SRBM]
    with pytest.raises(InputInvalid):
        MissileProfile(**{**good.__dict__, "burn_s": 0.0})
    with pytest.raises(InputInvalid):
        MissileProfile(**{**good.__dict__, "vertical_s": good.burn_s})
    with pytest.raises(InputInvalid):
        MissileProfile(**{**good.__dict__, "burnout_pitch_deg": 95.0})
    with pytest.raises(InputInvalid):
        fly(good, 39.0, 127.0, launch_ms=0, step_ms=999)


# Public figures (docs/tracks.md): apogee (km), range (km), flight time (min), each +-15 %.
CALIBRATION = {
    MissileType.SRBM: (80, 450, 5.0),
    MissileType.MRBM: (300, 1000, 10.2),
    MissileType.IRBM: (550, 2700, 15.2),
    MissileType.ICBM_LOFTED: (6000, 1000, 69),
}


@pytest.mark.parametrize(
    "missile",
    [
        MissileType.SRBM,
        pytest.param(MissileType.MRBM, marks=pytest.mark.slow),
        pytest.param(MissileType.IRBM, marks=pytest.mark.slow),
        pytest.param(MissileType.ICBM_LOFTED, marks=pytest.mark.slow),
    ],
)
def test_each_profile_flies_its_public_figures(missile: MissileType) -> None:
    apogee, rng, minutes = CALIBRATION[missile]
    truth = fly(PROFILES[missile], 39.20, 125.67, launch_ms=1000)
    assert truth.apogee_m / 1e3 == pytest.approx(apogee, rel=0.15)
    assert truth.range_m / 1e3 == pytest.approx(rng, rel=0.15)
    assert (truth.impact_ms - truth.launch_ms) / 60000 == pytest.approx(minutes, rel=0.15)
    assert truth.state_at(999) is None
    assert truth.state_at(truth.impact_ms + 1) is None
    assert truth.burnout_ms == 1000 + round(PROFILES[missile].burn_s * 1000)


def test_the_lofted_icbm_is_the_hwasong_18_of_18_december_2023() -> None:
    # ~6,000 km apogee, ~1,000 km, ~73 min (JPN MOD): the calibration target, stated once.
    apogee, rng, minutes = CALIBRATION[MissileType.ICBM_LOFTED]
    assert (apogee, rng) == (6000, 1000)
    assert 60 < minutes < 80
