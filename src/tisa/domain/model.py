"""Products, observations, consents: frozen, typed, valid by construction.

Pure: no I/O, no clock. Wire formats are parsed into these at the edge (tisa.domain.wire).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tisa.domain.arrangement import is_topic
from tisa.domain.markings import (
    Classification,
    InformationCredibility,
    Markings,
    Precedence,
    SourceReliability,
)
from tisa.errors import InputInvalid

TITLE_MAX = 300
TEXT_MAX = 100_000
OBSERVATIONS_MAX = 64


class Qualifier(StrEnum):
    """How a reported figure is hedged; bounds are bounds, not values."""

    EXACT = "exact"
    ABOUT = "about"
    AT_LEAST = "at_least"
    MORE_THAN = "more_than"
    UP_TO = "up_to"
    LESS_THAN = "less_than"

    @property
    def is_bound(self) -> bool:
        """True for 'at least', 'more than', 'up to', 'less than'."""
        return self not in (Qualifier.EXACT, Qualifier.ABOUT)

    @property
    def words(self) -> str:
        """How the hedge reads before a figure, in English: 'about ', 'at least ', '' (exact)."""
        return "" if self is Qualifier.EXACT else self.value.replace("_", " ") + " "


class Unit(StrEnum):
    """Units a figure may be reported in: what the originator wrote, converted for computing."""

    KM = "km"
    M = "m"
    NMI = "nmi"  # nautical mile, 1,852 m exactly
    MI = "mi"  # statute mile, 1,609.344 m exactly
    MIN = "min"
    S = "s"

    @property
    def dimension(self) -> str:
        """'distance' or 'duration'."""
        return "duration" if self in (Unit.MIN, Unit.S) else "distance"

    @property
    def factor(self) -> float:
        """How many of the dimension's base unit (km, min) one of this unit is."""
        return _FACTORS[self]


_FACTORS = {
    Unit.KM: 1.0,
    Unit.M: 0.001,
    Unit.NMI: 1.852,
    Unit.MI: 1.609344,
    Unit.MIN: 1.0,
    Unit.S: 1 / 60,
}


@dataclass(frozen=True)
class Estimate:
    """A reported figure: a value, how it is hedged, and its one-sigma uncertainty if given,
    both in `unit` as the originator wrote them (None: the unit the field is named for).

    Raises (constructor):
        InputInvalid: a value or uncertainty that is not a finite number, or a negative sigma.
    """

    value: float
    qualifier: Qualifier = Qualifier.ABOUT
    sigma: float | None = None
    unit: Unit | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise InputInvalid(f"estimate value {self.value!r} is not a finite number")
        if self.sigma is not None and (not math.isfinite(self.sigma) or self.sigma < 0):
            raise InputInvalid(f"uncertainty {self.sigma!r} must be a finite number ≥ 0")

    def converted(self, base: Unit) -> Estimate:
        """The figure in `base` (the field's own unit), as computing needs it; unchanged when
        written in it (or with no unit, which means it).

        Raises:
            InputInvalid: the figure's unit measures something else (minutes for a range).
        """
        if self.unit is None or self.unit is base:
            return self if self.unit is None else Estimate(self.value, self.qualifier, self.sigma)
        if self.unit.dimension != base.dimension:
            raise InputInvalid(f"a figure in {self.unit.value} cannot be a {base.dimension}")
        scale = self.unit.factor / base.factor
        sigma = None if self.sigma is None else self.sigma * scale
        return Estimate(self.value * scale, self.qualifier, sigma)


@dataclass(frozen=True)
class Instant:
    """A reported time: UTC for computing, the original wording (with its zone) kept."""

    utc: datetime
    original: str
    qualifier: Qualifier = Qualifier.ABOUT
    sigma_s: float | None = None

    def __post_init__(self) -> None:
        if self.utc.tzinfo is None or self.utc.utcoffset() != timedelta(0):
            raise InputInvalid("an instant's utc time must be timezone-aware UTC")
        if self.sigma_s is not None and (not math.isfinite(self.sigma_s) or self.sigma_s < 0):
            raise InputInvalid(f"time uncertainty {self.sigma_s!r} must be a number ≥ 0")


@dataclass(frozen=True)
class Position:
    """A place: latitude and longitude in degrees, uncertainty in km, and how it was described."""

    lat: float
    lon: float
    sigma_km: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90 <= self.lat <= 90):
            raise InputInvalid(f"latitude {self.lat!r} is outside -90..90")
        if not (math.isfinite(self.lon) and -180 <= self.lon <= 180):
            raise InputInvalid(f"longitude {self.lon!r} is outside -180..180")
        if self.sigma_km is not None and (not math.isfinite(self.sigma_km) or self.sigma_km < 0):
            raise InputInvalid(f"position uncertainty {self.sigma_km!r} must be a number ≥ 0")


class MissileClass(StrEnum):
    """Missile classes as the parties report them."""

    SRBM = "SRBM"
    MRBM = "MRBM"
    IRBM = "IRBM"
    ICBM = "ICBM"
    SLBM = "SLBM"
    CRUISE = "CRUISE"
    HYPERSONIC = "HYPERSONIC"
    SLV = "SLV"
    UNKNOWN = "UNKNOWN"


class ObservationKind(StrEnum):
    """Kinds of structured observation."""

    MISSILE_LAUNCH = "missile-launch"
    NUCLEAR_TEST = "nuclear-test"


@dataclass(frozen=True)
class MissileLaunch:
    """One launch (or salvo) as one nation reported it."""

    time: Instant
    missile_class: MissileClass = MissileClass.UNKNOWN
    launch_position: Position | None = None
    count: Estimate | None = None
    apogee_km: Estimate | None = None
    range_km: Estimate | None = None
    flight_time_min: Estimate | None = None
    impact_time: Instant | None = None
    impact_position: Position | None = None
    inside_eez: bool | None = None
    lofted: bool | None = None
    kind: ObservationKind = field(default=ObservationKind.MISSILE_LAUNCH, init=False)

    def __post_init__(self) -> None:
        for name in ("count", "apogee_km", "range_km", "flight_time_min"):
            estimate: Estimate | None = getattr(self, name)
            if estimate is not None and estimate.value < 0:
                raise InputInvalid(f"{name} {estimate.value} must not be negative")
            if estimate is not None and estimate.unit is not None:
                base = BASE_UNITS.get(name)
                if base is None:
                    raise InputInvalid(f"{name} is a number of missiles; it takes no unit")
                estimate.converted(base)  # refuses a unit of another dimension


@dataclass(frozen=True)
class NuclearTest:
    """One nuclear test (or seismic event at a test site) as one nation reported it."""

    time: Instant
    position: Position | None = None
    magnitude: Estimate | None = None
    yield_kt: Estimate | None = None
    kind: ObservationKind = field(default=ObservationKind.NUCLEAR_TEST, init=False)

    def __post_init__(self) -> None:
        if self.yield_kt is not None and self.yield_kt.value < 0:
            raise InputInvalid(f"yield {self.yield_kt.value} kt must not be negative")
        for name in ("magnitude", "yield_kt"):
            estimate: Estimate | None = getattr(self, name)
            if estimate is not None and estimate.unit is not None:
                raise InputInvalid(f"{name} takes no unit")


Observation = MissileLaunch | NuclearTest

#: The unit each figure is computed in (and named for); a figure may be reported in another
#: unit of the same dimension. Figures not listed (count, magnitude, yield) take no unit.
BASE_UNITS = {"apogee_km": Unit.KM, "range_km": Unit.KM, "flight_time_min": Unit.MIN}

ATTACHMENTS_MAX = 32


class AttachmentKind(StrEnum):
    """What an attachment is, by its content."""

    DOCUMENT = "document"
    PHOTO = "photo"
    DATA = "data"


@dataclass(frozen=True)
class Attachment:
    """A file a product carries, by content address: the signed manifest names its SHA-256,
    so every recipient verifies every byte against the originator's signature.

    Raises (constructor):
        InputInvalid: a malformed digest, a negative size, an empty or path-like name.
    """

    digest: str
    size: int
    media_type: str
    kind: AttachmentKind
    name: str

    def __post_init__(self) -> None:
        hexpart = self.digest.removeprefix("sha256:")
        if not (
            self.digest.startswith("sha256:")
            and len(hexpart) == 64
            and all(c in "0123456789abcdef" for c in hexpart)
        ):
            raise InputInvalid(f"attachment digest {self.digest!r} is not sha256:<64 hex>")
        if self.size < 0:
            raise InputInvalid("attachment size must not be negative")
        plain = "/" not in self.name and "\\" not in self.name
        if not self.name.strip() or not plain or len(self.name) > 255:
            raise InputInvalid(f"attachment name {self.name!r}: a plain file name, 1–255 chars")


@dataclass(frozen=True)
class Product:
    """One version of one unit of intelligence.

    Raises (constructor):
        InputInvalid: empty or oversize title/text, no topics, a bad version.
    """

    id: str
    version: int
    markings: Markings
    topics: frozenset[str]
    title: str
    text: str
    source_reliability: SourceReliability
    information_credibility: InformationCredibility
    created_at: datetime
    author: str
    observations: tuple[Observation, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if len(self.attachments) > ATTACHMENTS_MAX:
            raise InputInvalid(f"more than {ATTACHMENTS_MAX} attachments")
        if len({a.digest for a in self.attachments}) != len(self.attachments):
            raise InputInvalid("the same file is attached twice")
        if self.version < 1:
            raise InputInvalid(f"version {self.version} must be 1 or more")
        if not self.title.strip():
            raise InputInvalid("title is empty")
        if len(self.title) > TITLE_MAX:
            raise InputInvalid(f"title is longer than {TITLE_MAX} characters")
        if len(self.text) > TEXT_MAX:
            raise InputInvalid(f"text is longer than {TEXT_MAX} characters")
        require_aware(self.created_at, "created_at")
        if not self.topics:
            raise InputInvalid("a product needs at least one topic")
        for topic in self.topics:
            if not is_topic(topic):
                raise InputInvalid(f"topic {topic!r} must be dotted lowercase words")
        if len(self.observations) > OBSERVATIONS_MAX:
            raise InputInvalid(f"more than {OBSERVATIONS_MAX} observations")

    @property
    def originator(self) -> str:
        """The party that wrote the product."""
        return self.markings.originator

    @property
    def classification(self) -> Classification:
        """The product's common classification level."""
        return self.markings.classification

    @property
    def precedence(self) -> Precedence:
        """The product's precedence."""
        return self.markings.precedence


def require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputInvalid(f"{name} must carry a time zone")


def is_topic_pattern(pattern: str) -> bool:
    """'*', a topic, or a topic prefix ending in '.*' ('dprk.missile.*', 'dprk.*')."""
    if pattern == "*" or is_topic(pattern):
        return True
    # A prefix must itself be dotted words: 'dprk' + '.x' parses as a topic; 'DPRK' does not.
    return pattern.endswith(".*") and is_topic(pattern[:-2] + ".x")


def topic_matches(pattern: str, topic: str) -> bool:
    """'dprk.missile.*' matches 'dprk.missile.launch'; '*' matches everything."""
    if pattern in ("*", topic):
        return True
    return pattern.endswith(".*") and topic.startswith(pattern[:-1])
