"""The track model the nations exchange: what one nation says about one missile, at one time.

A `TrackUpdate` is a nation's track (not a raw radar plot): its state estimate in WGS-84 ECEF
with a 6x6 covariance, the flight phase, the derived launch point, the predicted impact point
(IIP) with its error ellipse, and the track's status. A `TrackStream` is one nation's flow of
updates under one marking; an exercise stream says EXERCISE wherever it is rendered.

Frames and units: ECEF is WGS-84 Earth-centred, Earth-fixed (x through 0°N 0°E, z through the
north pole, turning with the Earth), metres and metres per second. Geodetic points are WGS-84
latitude and longitude in degrees and height above the ellipsoid in metres. Times are integer
milliseconds since the Unix epoch, UTC. Every object checks itself in its constructor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tisa.domain.markings import Classification, Markings, Precedence, check_trigraph
from tisa.errors import MarkingInvalid, TrackInvalid
from tisa.tracks.earth import Vec

# A covariance may be off symmetric or positive semi-definite by rounding, no more.
_TOLERANCE = 1e-9


class FlightPhase(StrEnum):
    """Where in its flight a tracked missile is, as the tracker judges it."""

    BOOST = "boost"  # the motor burns
    ASCENT = "ascent"  # coasting upward inside the atmosphere (below 100 km)
    MIDCOURSE = "midcourse"  # coasting above the atmosphere
    DESCENT = "descent"  # falling back inside the atmosphere


class TrackStatus(StrEnum):
    """Whether a track is still held."""

    ACTIVE = "active"  # measured recently
    LOST = "lost"  # no measurement for too long; the state is coasted
    IMPACTED = "impacted"  # the track came down


def _finite(name: str, values: tuple[float, ...]) -> None:
    if not all(math.isfinite(v) for v in values):
        raise TrackInvalid(f"{name} must be finite numbers")


def check_time(time_ms: int) -> int:
    """Return `time_ms` if it is a whole, non-negative number of ms since the epoch (UTC).

    Raises:
        TrackInvalid: not an int, or negative.
    """
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms < 0:
        raise TrackInvalid(f"a time is whole milliseconds since 1970 UTC, >= 0: {time_ms!r}")
    return time_ms


@dataclass(frozen=True)
class GeodeticPoint:
    """A WGS-84 point: latitude and longitude (degrees), height above the ellipsoid (m).

    Raises (constructor):
        TrackInvalid: a latitude outside [-90, 90], a longitude outside [-180, 180], or a
            value that is not finite.
    """

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0

    def __post_init__(self) -> None:
        _finite("a geodetic point", (self.lat_deg, self.lon_deg, self.alt_m))
        if not -90 <= self.lat_deg <= 90 or not -180 <= self.lon_deg <= 180:
            raise TrackInvalid(f"no such point: {self.lat_deg}, {self.lon_deg}")

    def __str__(self) -> str:
        ns = "N" if self.lat_deg >= 0 else "S"
        ew = "E" if self.lon_deg >= 0 else "W"
        return f"{abs(self.lat_deg):.3f}{ns} {abs(self.lon_deg):.3f}{ew}"


@dataclass(frozen=True)
class ImpactPrediction:
    """A predicted impact point: where (on the ellipsoid) and when, with a 1-sigma error
    ellipse: semi-axes in metres, orientation of the major axis in degrees clockwise from
    north, in [0, 180).

    Raises (constructor):
        TrackInvalid: negative or non-finite axes, a minor axis longer than the major one, an
            orientation out of range, or a bad time.
    """

    point: GeodeticPoint
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float
    time_ms: int

    def __post_init__(self) -> None:
        _finite("an error ellipse", (self.semi_major_m, self.semi_minor_m, self.orientation_deg))
        if not 0 <= self.semi_minor_m <= self.semi_major_m:
            raise TrackInvalid("an ellipse needs 0 <= semi-minor <= semi-major")
        if not 0 <= self.orientation_deg < 180:
            raise TrackInvalid("an ellipse's orientation is in [0, 180) degrees from north")
        check_time(self.time_ms)


@dataclass(frozen=True)
class StateEstimate:
    """Position and velocity in WGS-84 ECEF (m, m/s) with their 6x6 covariance, row-major
    (order x, y, z, vx, vy, vz). Kept as tuples so the estimate is immutable and hashable.

    Raises (constructor):
        TrackInvalid: wrong lengths, values that are not finite, or a covariance that is not
            symmetric positive semi-definite.
    """

    position: tuple[float, float, float]
    velocity: tuple[float, float, float]
    covariance: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.position) != 3 or len(self.velocity) != 3 or len(self.covariance) != 36:
            raise TrackInvalid("a state is 3 positions, 3 velocities and a 6x6 covariance")
        _finite("a state", (*self.position, *self.velocity, *self.covariance))
        p = self.matrix()
        scale = max(float(np.max(np.abs(p))), 1.0)
        if not np.allclose(p, p.T, rtol=0, atol=_TOLERANCE * scale):
            raise TrackInvalid("a covariance must be symmetric")
        if float(np.min(np.linalg.eigvalsh(p))) < -_TOLERANCE * scale:
            raise TrackInvalid("a covariance must be positive semi-definite")

    @classmethod
    def of(cls, x: Vec, p: Vec) -> StateEstimate:
        """From a 6-vector and a 6x6 matrix; symmetrises `p` against rounding.

        Raises:
            TrackInvalid: as the constructor.
        """
        if np.shape(x) != (6,) or np.shape(p) != (6, 6):
            raise TrackInvalid("a state is a 6-vector with a 6x6 covariance")
        sym = (np.asarray(p) + np.asarray(p).T) / 2
        return cls(
            position=(float(x[0]), float(x[1]), float(x[2])),
            velocity=(float(x[3]), float(x[4]), float(x[5])),
            covariance=tuple(float(v) for v in sym.ravel()),
        )

    def vector(self) -> Vec:
        """The state as a numpy 6-vector."""
        return np.array([*self.position, *self.velocity])

    def matrix(self) -> Vec:
        """The covariance as a numpy 6x6 matrix."""
        return np.array(self.covariance, dtype=np.float64).reshape(6, 6)

    @property
    def position_sigma_m(self) -> float:
        """Root of the position covariance's trace: one number for 'how well placed'."""
        return float(math.sqrt(max(sum(self.covariance[i * 7] for i in range(3)), 0.0)))


@dataclass(frozen=True)
class TrackUpdate:
    """One nation's track of one missile at one time.

    `quality` is 0 (no confidence) to 15 (best), from the position uncertainty, after the
    Link-16 custom of a 4-bit track quality. `launch_point` is the nation's derived launch
    point (None until it has one), `impact` its predicted impact point (None once there is no
    coast to the ground to predict).

    Raises (constructor):
        TrackInvalid: an empty track id or network, a quality outside 0..15, or a bad time.
        MarkingInvalid: a nation that is not a trigraph.
    """

    nation: str
    track_id: str
    network: str
    time_ms: int
    state: StateEstimate
    phase: FlightPhase
    quality: int
    status: TrackStatus
    launch_point: GeodeticPoint | None = None
    impact: ImpactPrediction | None = None

    def __post_init__(self) -> None:
        check_trigraph(self.nation)
        if not self.track_id or not self.network:
            raise TrackInvalid("a track update names its track id and sensor network")
        check_time(self.time_ms)
        if isinstance(self.quality, bool) or not 0 <= self.quality <= 15:
            raise TrackInvalid(f"track quality is 0..15, not {self.quality!r}")

    @property
    def key(self) -> str:
        """The track's name across nations: 'KOR:K0001'."""
        return f"{self.nation}:{self.track_id}"


def quality_of(position_sigma_m: float) -> int:
    """Track quality 0..15 from the position uncertainty: 15 within 50 m, one step less for
    each doubling beyond that, 0 beyond ~800 km."""
    if not math.isfinite(position_sigma_m):
        return 0
    steps = math.log2(max(position_sigma_m, 50.0) / 50.0)
    return max(0, 15 - math.ceil(steps))


def parse_marking(text: str, originator: str) -> Markings:
    """Read a banner of the form 'SECRET//REL TO USA, JPN, KOR' (optionally with 'ORCON/'
    before REL TO) into `Markings` for `originator`; missile warning goes FLASH.

    Raises:
        MarkingInvalid: another shape, an unknown level, or a REL TO without the originator.
    """
    level, sep, dissem = text.partition("//")
    if not sep:
        raise MarkingInvalid(f"{text!r}: expected 'LEVEL//REL TO ...'")
    controls = dissem.split("/")
    orcon = controls[0] == "ORCON"
    rel = controls[1:] if orcon else controls
    if len(rel) != 1 or not rel[0].startswith("REL TO "):
        raise MarkingInvalid(f"{text!r}: expected one REL TO list")
    parties = frozenset(p.strip() for p in rel[0].removeprefix("REL TO ").split(","))
    return Markings(
        originator=originator,
        classification=Classification.parse(level),
        rel_to=parties,
        precedence=Precedence.FLASH,
        orcon=orcon,
    )


@dataclass(frozen=True)
class TrackStream:
    """One nation's flow of track updates under one marking; `exercise` streams carry
    simulated or training tracks and say so wherever they are shown.

    Raises (constructor):
        MarkingInvalid: a marking that does not parse or leaves out the nation.
    """

    nation: str
    network: str
    marking: str
    exercise: bool

    def __post_init__(self) -> None:
        self.markings()

    def markings(self) -> Markings:
        """The parsed marking.

        Raises:
            MarkingInvalid: as the constructor.
        """
        return parse_marking(self.marking, self.nation)

    def label(self, update: TrackUpdate) -> str:
        """One line for a person: marking, EXERCISE if so, the track and its impact point."""
        parts = [f"({self.markings().portion()[1:-1]})"]
        if self.exercise:
            parts.append("EXERCISE")
        parts.append(f"{update.key} {update.phase} {update.status} q{update.quality}")
        if update.impact is not None:
            parts.append(f"IIP {update.impact.point}")
        if self.exercise:
            parts.append("EXERCISE")
        return " ".join(parts)
