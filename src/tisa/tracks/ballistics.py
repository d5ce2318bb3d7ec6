"""Ballistic missiles in flight: profiles, the equations of motion, truth trajectories.

The state is WGS-84 ECEF position and velocity (m, m/s) in the rotating frame. Motion is
integrated there with fixed-step fourth-order Runge-Kutta: gravity with J2, Coriolis and
centrifugal terms, drag in an exponential atmosphere (the air turns with the Earth, so the
ECEF velocity is the airspeed) and, while the motor burns, thrust along a pitch programme.

The boost is deliberately simple: the specific thrust rises linearly from ignition to burnout
(a motor of constant thrust on a vehicle losing mass), the thrust points straight up for a
few seconds and then pitches over linearly, in the vertical plane of the launch azimuth, to a
burnout elevation. Multi-stage missiles are one equivalent stage. Each profile is calibrated
so that its apogee, range and flight time land on the public figures in docs/tracks.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from tisa.errors import InputInvalid
from tisa.tracks import earth
from tisa.tracks.earth import WGS84, EarthModel, Vec

Acceleration = Callable[[float, Vec, Vec], Vec]


class MissileType(StrEnum):
    """The missile classes the simulator flies, each with one calibrated profile."""

    SRBM = "srbm"
    MRBM = "mrbm"
    IRBM = "irbm"
    ICBM_LOFTED = "icbm-lofted"


@dataclass(frozen=True)
class MissileProfile:
    """How a missile class flies: its boost, its drag and its usual heading.

    Raises (constructor):
        InputInvalid: a non-positive burn time, acceleration or ballistic coefficient, or a
            pitch programme that does not fit in the burn.
    """

    burn_s: float
    accel_start: float  # m/s^2, specific thrust at ignition
    accel_end: float  # m/s^2, specific thrust at burnout
    vertical_s: float  # straight up for this long, then pitch over
    burnout_pitch_deg: float  # thrust elevation at burnout, in the launch site's ENU frame
    ballistic_coefficient: float  # kg/m^2, mass / (drag coefficient x area)
    azimuth_deg: float  # usual heading from DPRK launch sites, degrees from north

    def __post_init__(self) -> None:
        values = (self.burn_s, self.accel_start, self.accel_end, self.ballistic_coefficient)
        if not all(np.isfinite(v) and v > 0 for v in values):
            raise InputInvalid("burn time, accelerations and ballistic coefficient must be > 0")
        if not 0 <= self.vertical_s < self.burn_s:
            raise InputInvalid("the vertical rise must end before burnout")
        if not 0 < self.burnout_pitch_deg <= 90:
            raise InputInvalid("the burnout pitch must be in (0, 90] degrees")

    def thrust_direction_enu(self, t_s: float) -> Vec:
        """Unit thrust direction in the launch site's east-north-up frame at `t_s`."""
        if t_s <= self.vertical_s:
            pitch = 90.0
        else:
            frac = min((t_s - self.vertical_s) / (self.burn_s - self.vertical_s), 1.0)
            pitch = 90.0 + (self.burnout_pitch_deg - 90.0) * frac
        p, az = np.radians(pitch), np.radians(self.azimuth_deg)
        return np.array([np.cos(p) * np.sin(az), np.cos(p) * np.cos(az), np.sin(p)])

    def thrust_magnitude(self, t_s: float) -> float:
        """Specific thrust (m/s^2) at `t_s` after ignition; zero after burnout."""
        if t_s < 0 or t_s >= self.burn_s:
            return 0.0
        return self.accel_start + (self.accel_end - self.accel_start) * t_s / self.burn_s


# Calibrated against public figures (docs/tracks.md): apogee, range and flight time.
PROFILES: dict[MissileType, MissileProfile] = {
    # KN-23 class, depressed: ~80 km apogee, ~450 km range (public: 50-100 km, 300-800 km).
    MissileType.SRBM: MissileProfile(
        burn_s=55.0,
        accel_start=22.0,
        accel_end=87.96,
        vertical_s=4.0,
        burnout_pitch_deg=4.63,
        ballistic_coefficient=8000.0,
        azimuth_deg=80.0,
    ),
    # Nodong/Scud-ER class, minimum energy: ~1,000 km range, ~300 km apogee.
    MissileType.MRBM: MissileProfile(
        burn_s=110.0,
        accel_start=14.0,
        accel_end=57.75,
        vertical_s=6.0,
        burnout_pitch_deg=31.53,
        ballistic_coefficient=10000.0,
        azimuth_deg=85.0,
    ),
    # Hwasong-12 class over Hokkaido (29 Aug 2017): ~2,700 km range, ~550 km apogee.
    MissileType.IRBM: MissileProfile(
        burn_s=140.0,
        accel_start=14.0,
        accel_end=67.37,
        vertical_s=8.0,
        burnout_pitch_deg=12.02,
        ballistic_coefficient=15000.0,
        azimuth_deg=80.0,
    ),
    # Hwasong-18, lofted (18 Dec 2023): ~6,000 km apogee, ~1,000 km range, ~73 min.
    MissileType.ICBM_LOFTED: MissileProfile(
        burn_s=240.0,
        accel_start=14.0,
        accel_end=64.19,
        vertical_s=10.0,
        burnout_pitch_deg=78.20,
        ballistic_coefficient=20000.0,
        azimuth_deg=75.0,
    ),
}


def acceleration(
    r: Vec, v: Vec, ballistic_coefficient: float | None, model: EarthModel = WGS84
) -> Vec:
    """Acceleration in the rotating frame without thrust: gravity with J2, Coriolis and
    centrifugal terms (as `model` says), and drag if `ballistic_coefficient` (kg/m^2) is
    given."""
    acc = earth.gravity(r, j2=model.j2)
    if model.rotating:
        acc = acc + earth.frame_acceleration(r, v)
    if ballistic_coefficient is not None:
        rho = earth.density(earth.altitude(r))
        speed = np.linalg.norm(v, axis=-1)
        acc = acc - (0.5 * rho * speed / ballistic_coefficient)[..., None] * v
    return acc


def rk4_step(t: float, state: Vec, dt: float | Vec, accel: Acceleration) -> Vec:
    """One Runge-Kutta step of `state` (shape (..., 6)) under `accel(t, r, v)`; `dt` is one
    step for every row or a column (shape (n, 1)) of steps, one per row."""

    def deriv(tt: float, s: Vec) -> Vec:
        return np.concatenate([s[..., 3:], accel(tt, s[..., :3], s[..., 3:])], axis=-1)

    # With a step per row, the times given are the longest row's: only a thrust (one row,
    # one step) reads them; a coast's acceleration does not depend on time.
    step = float(np.max(dt))
    k1 = deriv(t, state)
    k2 = deriv(t + step / 2, state + dt / 2 * k1)
    k3 = deriv(t + step / 2, state + dt / 2 * k2)
    k4 = deriv(t + step, state + dt * k3)
    return np.asarray(state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4), dtype=np.float64)


def coast_to_ground(
    states: Vec,
    *,
    groups: npt.NDArray[np.int64] | None = None,
    ballistic_coefficient: float | None = None,
    max_seconds: float = 7200.0,
    model: EarthModel = WGS84,
) -> tuple[Vec, Vec]:
    """Propagate each row of `states` (shape (n, 6)) until it reaches the ellipsoid.

    Returns the ECEF impact positions (n, 3) and the seconds to impact (n,); a row that
    does not come down within `max_seconds` gives NaN. The step adapts to the lowest
    altitude still in flight: long in midcourse, a second near the ground, and the crossing
    is interpolated within the last step. Rows with the same `groups` id (default: all one
    group) share their steps, so finite differences between them see no difference of
    integration; different groups step apart, so many coasts fly in one batch, each as it
    would alone.
    """
    states = np.array(states, dtype=np.float64, copy=True)
    n = states.shape[0]
    group = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    impact = np.full((n, 3), np.nan)
    when = np.full(n, np.nan)
    flying = np.ones(n, dtype=bool)
    t = np.zeros(n)
    alt = earth.altitude(states[:, :3])
    flying &= alt > 0
    impact[~flying] = states[~flying, :3]
    when[~flying] = 0.0

    def accel(_t: float, r: Vec, v: Vec) -> Vec:
        return acceleration(r, v, ballistic_coefficient, model)

    while True:
        flying &= t < max_seconds
        if not flying.any():
            break
        idx = np.flatnonzero(flying)
        lowest = np.full(int(group.max()) + 1, np.inf)
        np.minimum.at(lowest, group[idx], alt[idx])
        dt = np.clip(lowest[group[idx]] / 10e3, 0.5, 60.0)
        nxt = rk4_step(0.0, states[idx], dt[:, None], accel)
        new_alt = earth.altitude(nxt[:, :3])
        down = new_alt <= 0
        if down.any():
            rows = idx[down]
            frac = (alt[rows] / (alt[rows] - new_alt[down]))[:, None]
            impact[rows] = states[rows, :3] + frac * (nxt[down, :3] - states[rows, :3])
            when[rows] = t[rows] + frac[:, 0] * dt[down]
            flying[rows] = False
        states[idx] = nxt
        alt[idx] = new_alt
        t[idx] += dt
    return impact, when


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One missile's true flight, sampled every `step_ms` from launch to impact.

    `states[i]` is the ECEF state at `launch_ms + i * step_ms`; the impact is interpolated
    between the last two samples.
    """

    launch_ms: int
    step_ms: int
    states: Vec  # (n, 6)
    burnout_ms: int
    impact_ms: int
    impact_ecef: Vec

    def state_at(self, t_ms: int) -> Vec | None:
        """The true ECEF state at `t_ms`, interpolated; None before launch or after impact."""
        if t_ms < self.launch_ms or t_ms > self.impact_ms:
            return None
        pos = (t_ms - self.launch_ms) / self.step_ms
        i = min(int(pos), len(self.states) - 2)
        frac = pos - i
        s0, s1 = self.states[i], self.states[i + 1]
        return np.asarray(s0 + frac * (s1 - s0), dtype=np.float64)

    @property
    def apogee_m(self) -> float:
        """Highest altitude above the ellipsoid (m)."""
        return float(np.max(earth.altitude(self.states[:, :3])))

    @property
    def apogee_ms(self) -> int:
        """Time of the highest sample."""
        i = int(np.argmax(earth.altitude(self.states[:, :3])))
        return self.launch_ms + i * self.step_ms

    @property
    def range_m(self) -> float:
        """Surface distance (m) from the launch point to the impact point."""
        lat0, lon0, _ = earth.to_geodetic(self.states[0, :3])
        lat1, lon1, _ = earth.to_geodetic(self.impact_ecef)
        return earth.surface_distance(lat0, lon0, lat1, lon1)


def fly(
    profile: MissileProfile,
    lat_deg: float,
    lon_deg: float,
    *,
    launch_ms: int,
    azimuth_deg: float | None = None,
    step_ms: int = 1000,
) -> Trajectory:
    """Fly `profile` from a launch point (degrees) to impact: the truth for one missile.

    Raises:
        InputInvalid: a step that is not a positive whole number of milliseconds dividable
            into two, or a profile that never comes down within three hours.
    """
    if step_ms <= 0 or step_ms % 2:
        raise InputInvalid("the trajectory step must be a positive, even number of ms")
    if azimuth_deg is not None:
        profile = MissileProfile(**{**profile.__dict__, "azimuth_deg": azimuth_deg})
    to_ecef = earth.enu_rotation(lat_deg, lon_deg).T
    beta = profile.ballistic_coefficient

    def accel(t: float, r: Vec, v: Vec) -> Vec:
        thrust = profile.thrust_magnitude(t) * (to_ecef @ profile.thrust_direction_enu(t))
        return acceleration(r, v, beta) + thrust

    state = np.concatenate([earth.to_ecef(lat_deg, lon_deg, 0.0), np.zeros(3)])
    # On the pad, the frame terms and gravity balance the ground's push: thrust lifts it.
    samples = [state]
    dt = step_ms / 1000.0
    t = 0.0
    prev_alt = 0.0
    while t < 3 * 3600:
        nxt = rk4_step(t, state, dt / 2, accel)
        nxt = rk4_step(t + dt / 2, nxt, dt / 2, accel)
        alt = float(earth.altitude(nxt[:3]))
        t += dt
        if alt <= 0 and t > profile.burn_s:
            frac = prev_alt / (prev_alt - alt)
            impact = state[:3] + frac * (nxt[:3] - state[:3])
            impact_ms = launch_ms + round((t - dt + frac * dt) * 1000)
            samples.append(nxt)
            return Trajectory(
                launch_ms=launch_ms,
                step_ms=step_ms,
                states=np.array(samples),
                burnout_ms=launch_ms + round(profile.burn_s * 1000),
                impact_ms=impact_ms,
                impact_ecef=impact,
            )
        samples.append(nxt)
        state, prev_alt = nxt, alt
    raise InputInvalid("the missile did not come down within three hours")
