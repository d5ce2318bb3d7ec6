"""Radars and what they see: the geometry, the noise, and the plots a network produces.

A radar measures range, azimuth and elevation of a target from its own position, in the local
east-north-up frame of the geodetic normal there, when the target is above its minimum
elevation (so below the horizon, with the Earth's curvature, it is never seen) and within its
maximum range, once per scan, with Gaussian noise. Randomness comes only from the generator
the caller passes in, so a seed reproduces every plot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tisa.errors import InputInvalid
from tisa.tracks import earth
from tisa.tracks.ballistics import Trajectory
from tisa.tracks.earth import Vec
from tisa.tracks.sites import NETWORK_NAMES, RADAR_SITES, RadarSite
from tisa.tracks.track import GeodeticPoint


@dataclass(frozen=True)
class RadarPerformance:
    """How a kind of radar performs: approximate public figures, defaults to change.

    Raises (constructor):
        InputInvalid: non-positive range, period or noise, or a detection probability
            outside (0, 1].
    """

    max_range_m: float
    min_elevation_deg: float
    period_ms: int
    sigma_range_m: float
    sigma_angle_rad: float
    detection_probability: float = 0.98

    def __post_init__(self) -> None:
        positive = (self.max_range_m, self.period_ms, self.sigma_range_m, self.sigma_angle_rad)
        if not all(v > 0 for v in positive):
            raise InputInvalid("radar range, period and noise must be > 0")
        if not 0 < self.detection_probability <= 1:
            raise InputInvalid("a detection probability is in (0, 1]")


PERFORMANCE: dict[str, RadarPerformance] = {
    "green-pine": RadarPerformance(900e3, 1.0, 2000, 150.0, 2.0e-3),
    "aegis": RadarPerformance(1000e3, 1.0, 2000, 50.0, 1.0e-3),
    "fps-5": RadarPerformance(3000e3, 1.0, 2000, 100.0, 1.0e-3),
    "tpy-2": RadarPerformance(2500e3, 1.0, 2000, 20.0, 0.5e-3),
    "sbx": RadarPerformance(4000e3, 1.0, 2000, 20.0, 0.3e-3),
}


@dataclass(frozen=True)
class Plot:
    """One radar detection: range (m), azimuth and elevation (rad) from `radar`.

    `target` names the missile the network's own plot-to-track step resolved it to; the
    simulator gives it from truth, so each nation's trackers start from clean plot streams
    and the association problem studied is the one across nations.
    """

    radar: str
    time_ms: int
    target: str
    range_m: float
    azimuth_rad: float
    elevation_rad: float


@dataclass(frozen=True)
class Radar:
    """A radar at a site with a performance."""

    name: str
    site: GeodeticPoint
    performance: RadarPerformance

    @cached_property
    def position(self) -> Vec:
        """ECEF position of the antenna (m)."""
        return earth.to_ecef(self.site.lat_deg, self.site.lon_deg, self.site.alt_m)

    @cached_property
    def rotation(self) -> Vec:
        """Rows east, north, up of the site, in ECEF."""
        return earth.enu_rotation(self.site.lat_deg, self.site.lon_deg)

    def aer(self, target: Vec) -> tuple[float, float, float]:
        """Range (m), azimuth (rad, clockwise from north) and elevation (rad) of an ECEF
        position."""
        e, n, u = self.rotation @ (target - self.position)
        rng = float(np.sqrt(e * e + n * n + u * u))
        return rng, float(np.arctan2(e, n)), float(np.arcsin(u / rng))

    def sees(self, target: Vec) -> bool:
        """Whether geometry lets this radar see an ECEF position: above the minimum
        elevation (over the horizon) and within range."""
        rng, _, el = self.aer(target)
        perf = self.performance
        return rng <= perf.max_range_m and el >= np.radians(perf.min_elevation_deg)

    def measure(
        self, target: Vec, time_ms: int, name: str, rng: np.random.Generator
    ) -> Plot | None:
        """A noisy plot of `target`, or None if not seen (geometry, or a missed detection)."""
        if not self.sees(target):
            return None
        perf = self.performance
        if rng.random() > perf.detection_probability:
            return None
        r, az, el = self.aer(target)
        noise = rng.standard_normal(3)
        return Plot(
            radar=self.name,
            time_ms=time_ms,
            target=name,
            range_m=r + perf.sigma_range_m * float(noise[0]),
            azimuth_rad=az + perf.sigma_angle_rad * float(noise[1]),
            elevation_rad=el + perf.sigma_angle_rad * float(noise[2]),
        )

    def to_ecef(self, plot: Plot) -> tuple[Vec, Vec]:
        """A plot as an ECEF position with its 3x3 covariance (the converted measurement:
        the range-azimuth-elevation noise carried through the first-order Jacobian)."""
        r, az, el = plot.range_m, plot.azimuth_rad, plot.elevation_rad
        ce, se, ca, sa = np.cos(el), np.sin(el), np.cos(az), np.sin(az)
        enu = r * np.array([ce * sa, ce * ca, se])
        jac = np.array(
            [
                [ce * sa, r * ce * ca, -r * se * sa],
                [ce * ca, -r * ce * sa, -r * se * ca],
                [se, 0.0, r * ce],
            ]
        )
        perf = self.performance
        noise = np.diag([perf.sigma_range_m**2, perf.sigma_angle_rad**2, perf.sigma_angle_rad**2])
        cov_enu = jac @ noise @ jac.T
        return self.position + self.rotation.T @ enu, self.rotation.T @ cov_enu @ self.rotation


@dataclass(frozen=True)
class SensorNetwork:
    """One nation's radars under one network name.

    Raises (constructor):
        InputInvalid: no radars, or two with one name.
    """

    nation: str
    name: str
    radars: tuple[Radar, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [r.name for r in self.radars]
        if not names or len(set(names)) != len(names):
            raise InputInvalid(f"{self.nation}'s network needs radars with distinct names")

    @classmethod
    def default(cls, nation: str, *, sites: tuple[RadarSite, ...] | None = None) -> SensorNetwork:
        """A nation's network from the shipped sites and performances.

        Raises:
            InputInvalid: a nation with no shipped sites, or an unknown radar kind.
        """
        chosen = sites if sites is not None else RADAR_SITES.get(nation, ())
        try:
            radars = tuple(Radar(s.name, s.point, PERFORMANCE[s.kind]) for s in chosen)
        except KeyError as exc:
            raise InputInvalid(f"unknown radar kind {exc.args[0]!r}") from exc
        return cls(nation=nation, name=NETWORK_NAMES.get(nation, nation), radars=radars)

    def radar(self, name: str) -> Radar:
        """The radar of that name.

        Raises:
            InputInvalid: no such radar here.
        """
        for r in self.radars:
            if r.name == name:
                return r
        raise InputInvalid(f"no radar {name!r} in {self.name}")

    def observe(
        self,
        truths: Mapping[str, Trajectory],
        start_ms: int,
        end_ms: int,
        rng: np.random.Generator,
    ) -> list[Plot]:
        """Every plot this network makes of `truths` between the two times, in time order.

        Each radar scans every `period_ms`, its scans offset from the others' so a network's
        plots interleave.
        """
        plots: list[Plot] = []
        for i, radar in enumerate(self.radars):
            period = radar.performance.period_ms
            t = start_ms + (i * period) // max(len(self.radars), 1)
            while t <= end_ms:
                for name in sorted(truths):
                    state = truths[name].state_at(t)
                    if state is not None:
                        plot = radar.measure(state[:3], t, name, rng)
                        if plot is not None:
                            plots.append(plot)
                t += period
        plots.sort(key=lambda p: (p.time_ms, p.radar, p.target))
        return plots
