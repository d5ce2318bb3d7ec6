"""One nation's tracker: its own radars' plots in, its own TrackUpdates out.

An extended Kalman filter per missile, on nine states in WGS-84 ECEF: position, velocity and
a non-gravitational acceleration (thrust while the motor burns, drag low in the air). The
prediction flies the state through the same equations of motion as the truth (gravity with
J2, Coriolis and centrifugal terms) plus that acceleration, held over the step; the covariance
goes through the linearised transition and a white-jerk process noise. The measurement update
is filterpy's (Joseph form) on the radar plot converted to an ECEF position.

The acceleration state models the boost: while the filter sees the missile pushed forward
(the acceleration along the velocity clearly positive) the phase is BOOST and the jerk noise
is large; once that push has been gone for a few seconds the track turns ballistic for good
(no restart of a motor is modelled): above 100 km the acceleration is pinned at zero, lower
down a small jerk noise lets it follow drag. A track starts from two plots (position and a
velocity from their difference), reports on a common grid of report times, is LOST after a
quiet spell (and coasts on, until its position is too blurred to be worth reporting: then
it is dropped, and a new track starts if the missile is seen again), and IMPACTED once its
coast reaches the ground.

filterpy was chosen over Stone Soup: it installs as one pure-Python wheel over numpy and scipy
(Stone Soup brings plotting, spatial-index and YAML stacks), and its plain functions fit a
filter whose prediction is our own ballistic integrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import update as kalman_update

from tisa.tracks import earth
from tisa.tracks.ballistics import rk4_step
from tisa.tracks.earth import Vec
from tisa.tracks.impact import predict_impact
from tisa.tracks.sensors import Plot, SensorNetwork
from tisa.tracks.track import (
    FlightPhase,
    GeodeticPoint,
    StateEstimate,
    TrackStatus,
    TrackUpdate,
    quality_of,
)

_H = np.hstack([np.eye(3), np.zeros((3, 6))])
_SPACE_M = 100e3  # above this the air is too thin to matter to the tracker


@dataclass(frozen=True)
class TrackerConfig:
    """A tracker's tuning.

    `boost_jerk` and `drag_jerk` are white-jerk spectral densities (m^2/s^5) on the
    acceleration state while boosting and while ballistic low in the air; `model_noise`
    (m^2/s^3) is white acceleration noise on the velocity for what the gravity model leaves
    out. Times are milliseconds.
    """

    boost_jerk: float = 25.0
    drag_jerk: float = 20.0  # drag grows fast as the air thickens on the way down
    model_noise: float = 1e-4
    initial_accel_sigma: float = 30.0
    boost_push: float = 3.0  # m/s^2 forward push that counts as thrust
    burnout_quiet_ms: int = 10000
    judge_after: int = 10  # plots before a track's boost is judged
    surprise_nis: float = 30.0  # beyond chi-square(3) at 99.9999 %
    surprises: int = 3
    lost_after_ms: int = 30000
    drop_sigma_m: float = 50e3  # a lost track this blurred is dropped
    tentative_ms: int = 20000
    # The IIP's coast assumes a re-entry vehicle this blunt (kg/m^2); None for vacuum.
    iip_ballistic_coefficient: float | None = 10000.0
    max_step_s: float = 2.0  # integration step while the acceleration may change
    coast_step_s: float = 10.0  # and while coasting above the air


@dataclass
class _Track:
    """The filter of one missile (mutable; the tracker owns it)."""

    track_id: str
    x: Vec
    p: Vec
    time_ms: int
    last_plot_ms: int
    updates: int = 1
    boosting: bool = True
    quiet_since_ms: int | None = None
    launch_point: GeodeticPoint | None = None
    ended: bool = False
    impacted: bool = False
    misses: int = 0


def _skew(w: Vec) -> Vec:
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


_OMEGA_X = _skew(earth.OMEGA_VEC)


def _transition(r: Vec, dt: float) -> Vec:
    """Linearised 9x9 transition over `dt` at position `r` (point-mass gravity gradient,
    the rotating frame's terms, acceleration held)."""
    rn = float(np.linalg.norm(r))
    unit = r / rn
    gradient = earth.MU / rn**3 * (3 * np.outer(unit, unit) - np.eye(3))
    a = np.zeros((9, 9))
    a[0:3, 3:6] = np.eye(3)
    a[3:6, 0:3] = gradient - _OMEGA_X @ _OMEGA_X
    a[3:6, 3:6] = -2 * _OMEGA_X
    a[3:6, 6:9] = np.eye(3)
    ad = a * dt
    return np.eye(9) + ad + ad @ ad / 2 + ad @ ad @ ad / 6


def _process_noise(dt: float, *, jerk: float, model: float) -> Vec:
    q = np.asarray(
        Q_continuous_white_noise(
            dim=3, dt=dt, spectral_density=jerk, block_size=3, order_by_dim=False
        ),
        dtype=np.float64,
    )
    velocity = np.asarray(
        Q_continuous_white_noise(
            dim=2, dt=dt, spectral_density=model, block_size=3, order_by_dim=False
        ),
        dtype=np.float64,
    )
    q[0:6, 0:6] += velocity
    return q


def predict(
    x: Vec, p: Vec, seconds: float, config: TrackerConfig, *, jerk: float, max_step_s: float
) -> tuple[Vec, Vec]:
    """Predict a nine-state estimate `seconds` ahead (not in place).

    With `jerk` zero the acceleration is pinned at zero (a coast above the air)."""
    if seconds <= 0:
        return x, p
    steps = max(1, int(np.ceil(seconds / max_step_s)))
    dt = seconds / steps
    for _ in range(steps):
        accel = x[6:9].copy()

        def motion(_t: float, r: Vec, v: Vec, a: Vec = accel) -> Vec:
            return earth.gravity(r) + earth.frame_acceleration(r, v) + a

        state = rk4_step(0.0, x[:6], dt, motion)
        phi = _transition(x[:3], dt)
        x = np.concatenate([state, accel])
        p = phi @ p @ phi.T + _process_noise(dt, jerk=jerk, model=config.model_noise)
    return x, p


def phase_of(x: Vec, boosting: bool) -> FlightPhase:
    """The flight phase a nine-state estimate shows."""
    if boosting:
        return FlightPhase.BOOST
    alt = float(earth.altitude(x[:3]))
    if alt > _SPACE_M:
        return FlightPhase.MIDCOURSE
    up = x[:3] / np.linalg.norm(x[:3])
    return FlightPhase.ASCENT if float(up @ x[3:6]) > 0 else FlightPhase.DESCENT


def launch_point_of(x: Vec) -> GeodeticPoint:
    """The launch point a state suggests: the line back along the velocity to the ground
    (a first estimate; a boost curves, so it lands short of the true pad for late tracks)."""
    r, v = x[:3], x[3:6]
    up = r / np.linalg.norm(r)
    climb = float(up @ v)
    alt = float(earth.altitude(r))
    back = r - v * (alt / climb) if climb > 1.0 else r
    lat, lon, _ = earth.to_geodetic(back)
    return GeodeticPoint(lat, lon, 0.0)


@dataclass
class NationTracker:
    """Turns one nation's plots into its tracks; `ingest` plots in time order, `report` at
    each report time. Mutable and owned by one caller; no I/O and no clock."""

    network: SensorNetwork
    config: TrackerConfig = field(default_factory=TrackerConfig)
    _tracks: dict[str, _Track] = field(default_factory=dict)
    _tentative: dict[str, tuple[Plot, Vec, Vec]] = field(default_factory=dict)
    _next_id: int = 1
    _followed: dict[str, str] = field(default_factory=dict)

    def _jerk(self, track: _Track) -> float:
        if track.boosting:
            return self.config.boost_jerk
        return 0.0 if float(earth.altitude(track.x[:3])) > _SPACE_M else self.config.drag_jerk

    def _coast(self, track: _Track, time_ms: int) -> tuple[Vec, Vec]:
        jerk = self._jerk(track)
        x, p = predict(
            track.x,
            track.p,
            (time_ms - track.time_ms) / 1000,
            self.config,
            jerk=jerk,
            max_step_s=self.config.max_step_s if jerk else self.config.coast_step_s,
        )
        if not track.boosting and float(earth.altitude(x[:3])) > _SPACE_M:
            x = x.copy()
            x[6:9] = 0.0
            p = p.copy()
            p[6:9, :] = 0.0
            p[:, 6:9] = 0.0
        return x, p

    def ingest(self, plot: Plot) -> None:
        """Take one plot (plots come in time order): start, confirm or update a track.

        Raises:
            InputInvalid: a plot from a radar that is not in this nation's network.
        """
        z, r = self.network.radar(plot.radar).to_ecef(plot)
        track = self._tracks.get(plot.target)
        if track is None:
            self._start(plot, z, r)
            return
        if track.ended and not track.impacted:
            # A dropped track: the missile is seen again, so a new track starts.
            del self._tracks[plot.target]
            self._start(plot, z, r)
            return
        if track.ended or plot.time_ms < track.time_ms:
            return
        track.x, track.p = self._coast(track, plot.time_ms)
        track.time_ms = plot.time_ms
        x, p, innovation, _, s, _ = kalman_update(track.x, track.p, z, r, _H, return_all=True)
        track.x, track.p = np.asarray(x, dtype=np.float64), np.asarray(p, dtype=np.float64)
        self._watch(track, float(innovation @ np.linalg.solve(s, innovation)))
        track.last_plot_ms = plot.time_ms
        track.updates += 1
        if track.updates == 5:
            track.launch_point = launch_point_of(track.x)
        self._judge_boost(track)

    def _start(self, plot: Plot, z: Vec, r: Vec) -> None:
        first = self._tentative.get(plot.target)
        if first is None or plot.time_ms - first[0].time_ms > self.config.tentative_ms:
            self._tentative[plot.target] = (plot, z, r)
            return
        if plot.time_ms - first[0].time_ms < 500:
            return
        dt = (plot.time_ms - first[0].time_ms) / 1000
        sigma_a = self.config.initial_accel_sigma
        x = np.concatenate([z, (z - first[1]) / dt, np.zeros(3)])
        p = np.zeros((9, 9))
        p[0:3, 0:3] = r
        p[3:6, 3:6] = (r + first[2]) / dt**2 + np.eye(3) * (sigma_a * dt / 2) ** 2
        p[0:3, 3:6] = p[3:6, 0:3] = r / dt
        p[6:9, 6:9] = np.eye(3) * sigma_a**2
        track_id = f"{self.network.nation[0]}{self._next_id:04d}"
        self._next_id += 1
        self._tracks[plot.target] = _Track(track_id, x, p, plot.time_ms, plot.time_ms)
        self._followed[track_id] = plot.target
        del self._tentative[plot.target]

    def _watch(self, track: _Track, nis: float) -> None:
        """Plots far outside what the filter expects, several in a row, mean the model is
        wrong (a boost taken for a coast): open the acceleration again."""
        track.misses = track.misses + 1 if nis > self.config.surprise_nis else 0
        if track.misses >= self.config.surprises and not track.boosting:
            track.boosting = True
            track.quiet_since_ms = None
            track.p[6:9, 6:9] += np.eye(3) * self.config.initial_accel_sigma**2
            track.misses = 0

    def _judge_boost(self, track: _Track) -> None:
        if not track.boosting:
            return
        v = track.x[3:6]
        speed = float(np.linalg.norm(v))
        push = float(track.x[6:9] @ v) / speed if speed > 0 else 0.0
        # A young track's acceleration is its initial guess (zero): judge it only later.
        if push > self.config.boost_push or track.updates < self.config.judge_after:
            track.quiet_since_ms = None
            return
        if track.quiet_since_ms is None:
            track.quiet_since_ms = track.time_ms
        elif track.time_ms - track.quiet_since_ms >= self.config.burnout_quiet_ms:
            track.boosting = False

    def report(self, time_ms: int) -> list[TrackUpdate]:
        """Every held track predicted to `time_ms`, with its IIP; a track whose coast has
        reached the ground is reported IMPACTED once and then dropped."""
        updates: list[TrackUpdate] = []
        for track in sorted(self._tracks.values(), key=lambda t: t.track_id):
            if track.ended or track.time_ms > time_ms:
                continue
            # Reporting moves the filter on: a later plot predicts from here, not again
            # from its last plot (a long midcourse coast would be flown over and over).
            x, p = self._coast(track, time_ms)
            track.x, track.p, track.time_ms = x, p, time_ms
            estimate = StateEstimate.of(x[:6], p[:6, :6])
            if float(earth.altitude(x[:3])) <= 0:
                status = TrackStatus.IMPACTED
                track.ended = track.impacted = True
            elif time_ms - track.last_plot_ms > self.config.lost_after_ms:
                status = TrackStatus.LOST
                # Out of sight, the best guess is a coast: the motor cannot burn for ever.
                track.boosting = False
                # Coasted too long to say where it is: said once more, then dropped.
                track.ended = estimate.position_sigma_m > self.config.drop_sigma_m
            else:
                status = TrackStatus.ACTIVE
            updates.append(
                TrackUpdate(
                    nation=self.network.nation,
                    track_id=track.track_id,
                    network=self.network.name,
                    time_ms=time_ms,
                    state=estimate,
                    phase=phase_of(x, track.boosting),
                    quality=quality_of(estimate.position_sigma_m),
                    status=status,
                    launch_point=track.launch_point,
                    impact=None
                    if track.ended
                    else predict_impact(
                        estimate,
                        time_ms,
                        ballistic_coefficient=self.config.iip_ballistic_coefficient,
                    ),
                )
            )
        return updates

    def truth_name(self, track_id: str) -> str | None:
        """The missile a track follows (for scoring against truth only)."""
        return self._followed.get(track_id)
