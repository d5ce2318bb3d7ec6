"""The Earth the tracks live on: WGS-84, gravity with J2, the rotating frame, the air.

Every state here is WGS-84 ECEF: metres (position) and metres per second (velocity), both in
the frame that turns with the Earth. Equations of motion in that frame carry the Coriolis and
centrifugal terms; the air is at rest in it, so ECEF velocity is also the airspeed.

Functions take one state (shape (3,)) or a batch (shape (n, 3)) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pymap3d
import pymap3d.vincenty
from numpy.typing import NDArray

Vec = NDArray[np.float64]

MU: Final = 3.986004418e14  # m^3/s^2, WGS-84 gravitational parameter
A: Final = 6378137.0  # m, WGS-84 equatorial radius
F: Final = 1 / 298.257223563  # WGS-84 flattening
B: Final = A * (1 - F)  # m, polar radius
J2: Final = 1.08262982e-3  # second zonal harmonic (EGM96, normalised to WGS-84 A)
OMEGA: Final = 7.292115e-5  # rad/s, Earth rotation rate
OMEGA_VEC: Final = np.array([0.0, 0.0, OMEGA])

SEA_LEVEL_DENSITY: Final = 1.225  # kg/m^3
SCALE_HEIGHT: Final = 7200.0  # m, exponential atmosphere

_WGS84 = pymap3d.Ellipsoid.from_name("wgs84")


@dataclass(frozen=True)
class EarthModel:
    """Which terms the equations of motion carry: all of them for real flights; fewer for
    checks against closed forms (a point-mass Earth that does not turn)."""

    j2: bool = True
    rotating: bool = True


WGS84 = EarthModel()


def gravity(r: Vec, *, j2: bool = True) -> Vec:
    """Gravitational acceleration (m/s^2) at ECEF position(s) `r`: point mass plus J2."""
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    r2 = x * x + y * y + z * z
    rn = np.sqrt(r2)
    base = -MU / (r2 * rn)
    if not j2:
        return np.stack([base * x, base * y, base * z], axis=-1)
    k = 1.5 * J2 * (A * A) / r2
    zz = 5.0 * z * z / r2
    return np.stack(
        [
            base * x * (1 + k * (1 - zz)),
            base * y * (1 + k * (1 - zz)),
            base * z * (1 + k * (3 - zz)),
        ],
        axis=-1,
    )


def frame_acceleration(r: Vec, v: Vec) -> Vec:
    """Coriolis plus centrifugal acceleration of the rotating (ECEF) frame:
    -2 w x v - w x (w x r), with w along +z (written out: np.cross is slow on small arrays)."""
    w2 = OMEGA * OMEGA
    ax = w2 * r[..., 0] + 2 * OMEGA * v[..., 1]
    ay = w2 * r[..., 1] - 2 * OMEGA * v[..., 0]
    return np.stack([ax, ay, np.zeros_like(ax)], axis=-1)


def density(altitude_m: Vec | float) -> Vec:
    """Air density (kg/m^3) of an exponential atmosphere; zero above 200 km."""
    h = np.maximum(np.asarray(altitude_m, dtype=np.float64), 0.0)
    return np.where(h > 200e3, 0.0, SEA_LEVEL_DENSITY * np.exp(-h / SCALE_HEIGHT))


def altitude(r: Vec) -> Vec:
    """Height above the WGS-84 ellipsoid (m), fast and batched: the geocentric radius less the
    ellipsoid's radius at that geocentric latitude. Exact on the ellipsoid (so a crossing of
    the ground is exact); off it, within 1.1 m below 200 km, 5 m at 1,000 km, 20 m at 6,000 km
    (tests/tracks/test_earth.py)."""
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    rn = np.sqrt(x * x + y * y + z * z)
    sin2 = (z / rn) ** 2
    surface = A * B / np.sqrt(B * B * (1 - sin2) + A * A * sin2)
    return np.asarray(rn - surface, dtype=np.float64)


def to_geodetic(r: Vec) -> tuple[float, float, float]:
    """ECEF position (m) to geodetic latitude and longitude (degrees) and height (m)."""
    lat, lon, alt = pymap3d.ecef2geodetic(float(r[0]), float(r[1]), float(r[2]), ell=_WGS84)
    return float(lat), float(lon), float(alt)


def to_ecef(lat_deg: float, lon_deg: float, alt_m: float) -> Vec:
    """Geodetic latitude and longitude (degrees) and height (m) to ECEF position (m)."""
    x, y, z = pymap3d.geodetic2ecef(lat_deg, lon_deg, alt_m, ell=_WGS84)
    return np.array([float(x), float(y), float(z)])


def enu_rotation(lat_deg: float, lon_deg: float) -> Vec:
    """The 3x3 matrix whose rows are local east, north and up (geodetic normal) in ECEF."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def surface_distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance (m) on the WGS-84 ellipsoid between two points (degrees)."""
    return float(pymap3d.vincenty.vdist(lat1, lon1, lat2, lon2, ell=_WGS84)[0])
