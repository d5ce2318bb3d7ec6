"""The Earth model: heights, frames, gravity's shape, the air."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.tracks import earth


@settings(max_examples=100, deadline=None)
@given(
    lat=st.floats(-89.0, 89.0),
    lon=st.floats(-180.0, 180.0),
    height=st.floats(0.0, 6000e3),
)
def test_the_fast_height_agrees_with_the_geodetic_one(
    lat: float, lon: float, height: float
) -> None:
    r = earth.to_ecef(lat, lon, height)
    # The fast height is off by up to 1.09 m at 200 km (45°), 4.9 m at 1,000 km, 17 m at 6,000.
    tolerance = 1.1 if height < 200e3 else 5.0 if height < 1000e3 else 20.0
    assert float(earth.altitude(r)) == pytest.approx(height, abs=tolerance)
    back = earth.to_geodetic(r)
    # pymap3d's latitude drifts with height: ~1e-7 degrees at 1,000 km, ~1e-5 at 6,000 km.
    assert back[0] == pytest.approx(lat, abs=1e-6 if height < 1000e3 else 5e-5)
    assert back[2] == pytest.approx(height, abs=0.1)


def test_the_local_frame_is_orthonormal_and_up_is_the_normal() -> None:
    rotation = earth.enu_rotation(39.0, 127.0)
    assert np.allclose(rotation @ rotation.T, np.eye(3))
    below, above = earth.to_ecef(39.0, 127.0, 0.0), earth.to_ecef(39.0, 127.0, 1000.0)
    assert np.allclose(rotation[2], (above - below) / 1000.0)


def test_the_air_thins_and_ends() -> None:
    heights = np.array([0.0, 10e3, 50e3, 100e3, 199e3, 201e3])
    rho = earth.density(heights)
    assert rho[0] == pytest.approx(earth.SEA_LEVEL_DENSITY)
    assert np.all(np.diff(rho) < 0)
    assert rho[-1] == 0.0
