"""Generated scenarios with known ground truth, for tests and the fusion benchmark.

`generate(seed, …)` draws, with its own `random.Random(seed)` (same seed, same scenario):

* events an hour or more apart: single launches, salvos (2–4 missiles minutes apart, from one
  area), nuclear tests — about half of them followed ~8 minutes later by a collapse, a weaker
  seismic event at the same site that is an event of its own;
* for each event, a report from each nation whose sensors caught it (KOR, JPN, USA), as a
  `tisa.domain.model.Product`: its time in the nation's zone (KST/JST +09:00, Hawaii −10:00 for
  INDOPACOM launches, UTC for USGS, Pyongyang time +08:30 when KOR quotes the North in
  2015–2018), figures with noise of the sigma the report states (or, unstated, of the default
  sigma fusion assumes), each nation's sensor bias (`bias=True`), hedged values ("more than",
  "at least" — always true bounds of the truth), salvos reported as a count or missile by
  missile, revisions (a first version with coarser figures, amended by a second), and now and
  then a recalled report.

Stress families (`family=`, issue 16), each on top of that reporting:

    base     the mix above
    close    pairs of launches at neighbouring sites (Sunan/Sohae 98 km, Wonsan/Sinpo 116 km)
             2–10 minutes apart
    salvo    salvos of 2–4 missiles, each nation reporting missile by missile (one product
             per missile, or one product of several observations) or as "N missiles"
    mixed    salvos of two missile types, reported missile by missile or as a count
    chain    seven launches nine minutes apart from one site
    zone     one nation's report of each launch carries a zone mistake: KST written as UTC,
             or the offset's sign flipped (+09:00 → −09:00, −10:00 → +10:00)
    amend    every report amended once (a coarser first version)
    bounds   most figures reported only as bounds ("more than", "at least")

Times are worded as the parties word them: to the minute ("10:15+09:00", the clock's minute,
so the truth lies in it) unless a sigma is stated or the time is a seismic origin time (to the
second). Launch positions name their site half of the time ("Sunan area").

The truth: every true event, and which true event each current report (product id,
observation index) describes. `tisa.fusion.scoring.score` compares fused events with the truth.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

from tisa.domain.markings import (
    Classification,
    InformationCredibility,
    Markings,
    Precedence,
    SourceReliability,
)
from tisa.domain.model import (
    Estimate,
    Instant,
    MissileClass,
    MissileLaunch,
    NuclearTest,
    Observation,
    ObservationKind,
    Position,
    Product,
    Qualifier,
)
from tisa.fusion.correlation import EARTH_RADIUS_KM
from tisa.fusion.quantities import Quantity, default_sigma, resolution_s
from tisa.fusion.reports import Holding
from tisa.fusion.sites import site_named

KST = timezone(timedelta(hours=9), "KST")
JST = timezone(timedelta(hours=9), "JST")
HST = timezone(timedelta(hours=-10), "HST")
PYONGYANG_TIME = timezone(timedelta(hours=8, minutes=30), "PYT")
#: Pyongyang kept UTC+8:30 from 15 Aug 2015 to 4 May 2018.
PYONGYANG_TIME_SPAN = (
    datetime(2015, 8, 14, 15, 0, tzinfo=UTC),
    datetime(2018, 5, 4, 15, 0, tzinfo=UTC),
)

SITES = (
    (39.20, 125.67, "Sunan, Pyongyang"),
    (39.66, 124.70, "Tongchang-ri"),
    (39.15, 127.45, "Wonsan"),
    (40.03, 128.18, "Sinpo"),
    (39.70, 125.90, "Kaechon"),
    (38.51, 125.76, "Sariwon area"),
)
#: Neighbouring sites that single linkage merged (the `close` family).
NEIGHBOURS = ((SITES[0], SITES[1]), (SITES[2], SITES[3]))
FAMILIES = ("base", "close", "salvo", "mixed", "chain", "zone", "amend", "bounds")
TEST_SITE = (41.28, 129.08, "Punggye-ri")

#: Missile classes a launch may be: (range km, apogee km, flight time min) as (low, high).
_FLIGHTS = {
    MissileClass.SRBM: ((250, 800), (30, 100), (5, 10)),
    MissileClass.IRBM: ((600, 1500), (50, 1200), (10, 30)),
    MissileClass.ICBM: ((900, 1100), (5500, 6700), (65, 75)),
}


@dataclass(frozen=True)
class Sensor:
    """How one nation sees events: coverage, noise (one sigma) and bias."""

    originator: str
    detects: float
    time_sigma_s: float
    position_sigma_km: float
    relative_sigma: float
    magnitude_sigma: float
    time_bias_s: float = 0.0
    relative_bias: float = 0.0
    magnitude_bias: float = 0.0
    states_sigma: float = 0.5


SENSORS = (
    Sensor(
        "KOR", 0.95, 20, 10, 0.08, 0.15, time_bias_s=20, relative_bias=0.04, magnitude_bias=-0.3
    ),
    Sensor("JPN", 0.90, 30, 20, 0.06, 0.10, time_bias_s=-15, relative_bias=-0.03),
    Sensor("USA", 0.70, 15, 8, 0.05, 0.08, magnitude_bias=0.1),
)


@dataclass(frozen=True)
class TrueEvent:
    """What really happened."""

    id: str
    kind: ObservationKind
    time: datetime
    lat: float
    lon: float
    count: int = 1
    missile_class: MissileClass = MissileClass.UNKNOWN
    times: tuple[datetime, ...] = ()
    apogee_km: float | None = None
    range_km: float | None = None
    flight_time_min: float | None = None
    impact: tuple[float, float] | None = None
    magnitude: float | None = None
    yield_kt: float | None = None
    collapse: bool = False
    site: str = ""
    #: Per missile, where a salvo mixes types: (class, range km, apogee km, flight min).
    kinds: tuple[tuple[MissileClass, float, float, float], ...] = ()


@dataclass(frozen=True)
class Scenario:
    """Products as a node would hold them, and the truth they describe."""

    seed: int
    holdings: tuple[Holding, ...]
    truth: tuple[TrueEvent, ...]
    membership: Mapping[tuple[str, int], str] = field(repr=False)

    @property
    def products(self) -> tuple[Product, ...]:
        """Every product version generated (amended versions included)."""
        return tuple(h.product for h in self.holdings)

    @property
    def observations(self) -> int:
        """How many observations the current reports carry."""
        return len(self.membership)


def destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    """The point `km` from (lat, lon) along `bearing_deg` on the sphere."""
    d = km / EARTH_RADIUS_KM
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def yield_from_magnitude(mb: float) -> float:
    """A rough body-wave magnitude to yield relation (kt): mb 6.1 is about 160 kt."""
    return float(10 ** ((mb - 4.45) / 0.75))


class _Draw:
    """One scenario's random choices (the only state; pure given the seed)."""

    def __init__(
        self, seed: int, *, bias: bool, hedge_share: float, by_missile: float = 0.4
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not secrets
        self.bias = bias
        self.hedge_share = hedge_share
        self.by_missile = by_missile
        self.placed = 0.8

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def event(
        self,
        number: int,
        time: datetime,
        kind: str,
        *,
        site: tuple[float, float, str] | None = None,
        mixed: bool = False,
    ) -> TrueEvent:
        rng = self.rng
        ident = f"true-{number:06d}"
        if kind == "test":
            lat, lon = destination(*TEST_SITE[:2], rng.uniform(0, 360), rng.uniform(0, 3))
            mb = round(rng.uniform(4.3, 6.3), 2)
            return TrueEvent(
                ident,
                ObservationKind.NUCLEAR_TEST,
                time,
                lat,
                lon,
                times=(time,),
                magnitude=mb,
                yield_kt=yield_from_magnitude(mb),
            )
        site = site or rng.choice(SITES)
        lat, lon = destination(site[0], site[1], rng.uniform(0, 360), rng.uniform(0, 5))
        cls = rng.choice(list(_FLIGHTS))
        (r0, r1), (a0, a1), (f0, f1) = _FLIGHTS[cls]
        count = 1 if kind == "single" else rng.randint(2, 4)
        kinds: list[tuple[MissileClass, float, float, float]] = []
        if mixed:
            other = rng.choice([c for c in _FLIGHTS if c is not cls])
            for n in range(count):
                c = cls if n % 2 == 0 else other
                (q0, q1), (b0, b1), (g0, g1) = _FLIGHTS[c]
                kinds.append((c, rng.uniform(q0, q1), rng.uniform(b0, b1), rng.uniform(g0, g1)))
        times = [time]
        for _ in range(count - 1):
            times.append(times[-1] + timedelta(seconds=rng.uniform(30, 240)))
        range_km = rng.uniform(r0, r1)
        impact = destination(lat, lon, rng.uniform(70, 110), range_km)
        return TrueEvent(
            ident,
            ObservationKind.MISSILE_LAUNCH,
            time,
            lat,
            lon,
            count=count,
            missile_class=cls,
            times=tuple(times),
            apogee_km=rng.uniform(a0, a1),
            range_km=range_km,
            flight_time_min=rng.uniform(f0, f1),
            impact=impact,
            site=site[2],
            kinds=tuple(kinds),
        )

    # -- figures -----------------------------------------------------------------------------

    def _stated(self, sensor: Sensor) -> bool:
        return self.rng.random() < sensor.states_sigma

    def value(
        self, sensor: Sensor, q: Quantity, truth: float, sigma: float, coarse: float
    ) -> Estimate:
        """A reported figure: stated sigma, or the default fusion will assume; maybe a bound."""
        rng = self.rng
        if q is not Quantity.MAGNITUDE and rng.random() < self.hedge_share:
            bound = math.floor(truth * rng.uniform(0.8, 0.95))
            return Estimate(max(0, bound), Qualifier.MORE_THAN)
        bias = 0.0
        if self.bias:
            bias = (
                sensor.magnitude_bias if q is Quantity.MAGNITUDE else sensor.relative_bias * truth
            )
        if self._stated(sensor):
            s = sigma * coarse
            return Estimate(max(0.0, truth + bias + rng.gauss(0, s)), Qualifier.ABOUT, s)
        qualifier = Qualifier.EXACT if q is Quantity.MAGNITUDE else Qualifier.ABOUT
        s = default_sigma(q, qualifier, truth)
        return Estimate(max(0.0, truth + bias + rng.gauss(0, s)), qualifier)

    def instant(
        self, sensor: Sensor, truth: datetime, zone: timezone, *, seismic: bool = False
    ) -> Instant:
        """A reported time; seismic origin times always come to the second with a sigma."""
        rng = self.rng
        bias = sensor.time_bias_s if self.bias else 0.0
        if seismic or self._stated(sensor):
            s = sensor.time_sigma_s
            moment = truth + timedelta(seconds=bias + rng.gauss(0, s))
            moment = moment.replace(microsecond=0)
            original = moment.astimezone(zone).isoformat()
            return Instant(moment.astimezone(UTC), _zoned(original, zone), Qualifier.ABOUT, s)
        # Unstated: worded to the clock's minute, as the parties do ("10:15").
        s = default_sigma(Quantity.TIME, Qualifier.ABOUT)
        moment = truth + timedelta(seconds=bias + rng.gauss(0, s))
        moment = moment.replace(second=0, microsecond=0)
        original = moment.astimezone(zone).isoformat(timespec="minutes")
        return Instant(moment.astimezone(UTC), _zoned(original, zone), Qualifier.ABOUT)

    def place(self, sensor: Sensor, lat: float, lon: float, what: str, site: str = "") -> Position:
        rng = self.rng
        if site and site_named(site) is not None and rng.random() < 0.5:
            what = site if site.endswith("area") else f"{site} area"
        stated = self._stated(sensor)
        s = sensor.position_sigma_km if stated else default_sigma(Quantity.SITE, Qualifier.ABOUT)
        north, east = rng.gauss(0, s), rng.gauss(0, s)
        plat = lat + north / 111.195
        plon = lon + east / (111.195 * math.cos(math.radians(lat)))
        return Position(
            max(-90, min(90, plat)), (plon + 540) % 360 - 180, s if stated else None, what
        )

    def zone(self, sensor: Sensor, event: TrueEvent) -> timezone:
        if sensor.originator == "USA":
            return UTC if event.kind is ObservationKind.NUCLEAR_TEST else HST
        if sensor.originator == "JPN":
            return JST
        start, end = PYONGYANG_TIME_SPAN
        if start <= event.time < end and self.rng.random() < 0.2:
            return PYONGYANG_TIME
        return KST

    def observations(
        self, sensor: Sensor, event: TrueEvent, coarse: float
    ) -> tuple[Observation, ...]:
        zone = self.zone(sensor, event)
        if event.kind is ObservationKind.NUCLEAR_TEST:
            assert event.magnitude is not None
            assert event.yield_kt is not None
            magnitude = self.value(
                sensor, Quantity.MAGNITUDE, event.magnitude, sensor.magnitude_sigma, coarse
            )
            test_yield = None
            if not event.collapse:
                test_yield = self.value(
                    sensor, Quantity.YIELD_KT, event.yield_kt, 0.3 * event.yield_kt, coarse
                )
            return (
                NuclearTest(
                    time=self.instant(sensor, event.time, zone, seismic=True),
                    position=self.place(sensor, event.lat, event.lon, TEST_SITE[2]),
                    magnitude=magnitude,
                    yield_kt=test_yield,
                ),
            )
        by_missile = event.count > 1 and self.rng.random() < self.by_missile
        times = event.times if by_missile else event.times[:1]
        out: list[Observation] = []
        for n, time in enumerate(times):
            out.append(self.launch(sensor, event, time, zone, coarse, by_missile, n))
        return tuple(out)

    def launch(
        self,
        sensor: Sensor,
        event: TrueEvent,
        time: datetime,
        zone: timezone,
        coarse: float,
        by_missile: bool,
        n: int = 0,
    ) -> MissileLaunch:
        rng = self.rng
        assert event.apogee_km is not None
        assert event.range_km is not None
        assert event.flight_time_min is not None
        assert event.impact is not None
        cls, range_km, apogee, flight = (
            event.kinds[n]
            if event.kinds and by_missile
            else (
                event.missile_class if not event.kinds else MissileClass.UNKNOWN,
                event.range_km,
                event.apogee_km,
                event.flight_time_min,
            )
        )
        count = None
        if not by_missile and (event.count > 1 or rng.random() < 0.5):
            if event.count > 1 and rng.random() < 0.3:
                count = Estimate(rng.randint(1, event.count), Qualifier.AT_LEAST)
            else:
                count = Estimate(event.count, Qualifier.EXACT)
        rel = sensor.relative_sigma
        return MissileLaunch(
            time=self.instant(sensor, time, zone),
            missile_class=cls if rng.random() < 0.8 else MissileClass.UNKNOWN,
            launch_position=self.place(sensor, event.lat, event.lon, "launch area", event.site)
            if rng.random() < self.placed
            else None,
            count=count,
            apogee_km=self.value(sensor, Quantity.APOGEE_KM, apogee, rel * apogee, coarse),
            range_km=self.value(sensor, Quantity.RANGE_KM, range_km, rel * range_km, coarse),
            flight_time_min=self.value(sensor, Quantity.FLIGHT_TIME_MIN, flight, 1.0, coarse)
            if sensor.originator == "JPN"
            else None,
            impact_position=self.place(sensor, *event.impact, "impact area")
            if sensor.originator != "KOR"
            else None,
        )


def _zoned(original: str, zone: timezone) -> str:
    # isoformat() writes +00:00 for UTC; USGS writes Z.
    return original.replace("+00:00", "Z") if zone is UTC else original


def _product(
    draw: _Draw,
    sensor: Sensor,
    pid: str,
    version: int,
    event: TrueEvent,
    observations: tuple[Observation, ...],
    created_at: datetime,
) -> Product:
    topic = (
        "dprk.missile.launch"
        if event.kind is ObservationKind.MISSILE_LAUNCH
        else "dprk.nuclear.test"
    )
    what = "launch" if event.kind is ObservationKind.MISSILE_LAUNCH else "seismic event"
    return Product(
        id=pid,
        version=version,
        markings=Markings(
            originator=sensor.originator,
            classification=Classification.SECRET,
            rel_to=frozenset({"USA", "KOR", "JPN"}),
            precedence=Precedence.FLASH,
        ),
        topics=frozenset({topic}),
        title=f"{sensor.originator}: {what} {event.time:%Y-%m-%d %H:%M}Z (v{version})",
        text="",
        source_reliability=SourceReliability.B,
        information_credibility=InformationCredibility.PROBABLY_TRUE,
        created_at=created_at,
        author=f"{sensor.originator.lower()}.analyst",
        observations=observations,
    )


def _episode(
    draw: _Draw, family: str, n: int, time: datetime, test_share: float, salvo_share: float
) -> list[TrueEvent]:
    """The true events of one episode (one event, or a family's cluster of them)."""
    rng = draw.rng
    if family == "close":
        pair = rng.choice(NEIGHBOURS)
        later = time + timedelta(seconds=rng.uniform(120, 600))
        return [
            draw.event(2 * n, time, "single", site=pair[0]),
            draw.event(2 * n + 1, later, "single", site=pair[1]),
        ]
    if family == "chain":
        site = rng.choice(SITES)
        return [
            draw.event(7 * n + k, time + timedelta(minutes=9 * k), "single", site=site)
            for k in range(7)
        ]
    if family in ("salvo", "mixed"):
        return [draw.event(n, time, "salvo", mixed=family == "mixed")]
    roll = rng.random()
    kind = "test" if roll < test_share else "salvo" if roll < test_share + salvo_share else "single"
    if family != "base" and kind == "test":
        kind = "single"
    return [draw.event(n, time, kind)]


def _mistag(instant: Instant, rng: random.Random) -> Instant:
    """The same clock reading with a mistaken zone: written as UTC, or its offset's sign
    flipped (what a hurried analyst or a bad converter does)."""
    local = datetime.fromisoformat(instant.original)
    offset = local.utcoffset() or timedelta(0)
    flipped = timezone(-offset) if offset else timezone(timedelta(hours=9))
    wrong = local.replace(tzinfo=UTC if offset and rng.random() < 0.5 else flipped)
    spec = "minutes" if resolution_s(instant.original) >= 60 else "seconds"
    original = _zoned(wrong.isoformat(timespec=spec), UTC if wrong.tzinfo is UTC else flipped)
    return Instant(wrong.astimezone(UTC), original, instant.qualifier, instant.sigma_s)


def generate(
    seed: int,
    *,
    events: int = 100,
    start: datetime = datetime(2016, 1, 1, tzinfo=UTC),
    salvo_share: float = 0.3,
    test_share: float = 0.1,
    collapse_share: float = 0.5,
    revision_share: float = 0.2,
    recall_share: float = 0.02,
    hedge_share: float = 0.1,
    bias: bool = True,
    family: str = "base",
) -> Scenario:
    """A scenario of `events` primary episodes (collapses come on top), from `seed`.

    Raises:
        ValueError: a family not in FAMILIES.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    if family == "amend":
        revision_share = 1.0
    if family == "bounds":
        hedge_share = 0.8
    draw = _Draw(
        seed,
        bias=bias,
        hedge_share=hedge_share,
        by_missile=0.7 if family in ("salvo", "mixed") else 0.4,
    )
    rng = draw.rng
    truth: list[TrueEvent] = []
    time = start
    for n in range(events):
        time += timedelta(hours=1 + rng.expovariate(1 / 24))
        episode = _episode(draw, family, n, time, test_share, salvo_share)
        truth.extend(episode)
        event = episode[0]
        if event.kind is ObservationKind.NUCLEAR_TEST and rng.random() < collapse_share:
            assert event.magnitude is not None
            later = time + timedelta(seconds=rng.uniform(7 * 60, 9 * 60))
            mb = max(3.5, event.magnitude - rng.uniform(1.0, 1.8))
            truth.append(
                TrueEvent(
                    f"true-{n:06d}c",
                    ObservationKind.NUCLEAR_TEST,
                    later,
                    event.lat,
                    event.lon,
                    times=(later,),
                    magnitude=mb,
                    yield_kt=0.0,
                    collapse=True,
                )
            )
        time = max(e.time for e in episode)
    holdings: list[Holding] = []
    membership: dict[tuple[str, int], str] = {}
    for event in truth:
        seen = [s for s in SENSORS if rng.random() < s.detects] or [rng.choice(SENSORS)]
        mistaken = rng.choice(seen) if family == "zone" and len(seen) > 1 else None
        for sensor in seen:
            created = event.time + timedelta(minutes=rng.uniform(3, 40))
            first = None
            if rng.random() < revision_share:
                first = draw.observations(sensor, event, 2.0)
            final = draw.observations(sensor, event, 1.0)
            if sensor is mistaken:
                final = tuple(
                    replace(
                        o,
                        time=_mistag(o.time, rng),
                        launch_position=o.launch_position
                        or draw.place(sensor, event.lat, event.lon, "launch area", event.site),
                    )
                    if isinstance(o, MissileLaunch)
                    else replace(o, time=_mistag(o.time, rng))
                    for o in final
                )
            # A salvo reported missile by missile comes one product per missile half the time.
            split = len(final) > 1 and rng.random() < 0.5
            parts = [(o,) for o in final] if split else [final]
            firsts = (
                [None] * len(parts)
                if first is None
                else [(o,) for o in first]
                if split and len(first) == len(final)
                else [first] + [None] * (len(parts) - 1)
            )
            for part, early in zip(parts, firsts, strict=True):
                pid = draw.uuid()
                when = created
                version = 1
                if early is not None:
                    holdings.append(Holding(_product(draw, sensor, pid, 1, event, early, when)))
                    when += timedelta(hours=rng.uniform(1, 6))
                    version = 2
                recalled = rng.random() < recall_share
                product = _product(draw, sensor, pid, version, event, part, when)
                holdings.append(Holding(product, when + timedelta(seconds=2), recalled))
                if not recalled:
                    for index in range(len(part)):
                        membership[(pid, index)] = event.id
    return Scenario(seed, tuple(holdings), tuple(truth), membership)


# -- scoring ------------------------------------------------------------------------------------
