"""The quantities fusion compares, their units, and the uncertainty assumed when none is given.

Every reported figure becomes a `Figure`: a value in the quantity's unit (times as seconds
since the epoch, UTC; the original wording with its zone is kept in `text`), a qualifier, the
stated one-sigma uncertainty if any, and the one-sigma fusion uses.

Times are intervals, not points. A time is worded to a resolution — "10:15" to the minute,
"03:30:01" to the second — and a clock reading names the whole interval it starts
([10:15:00, 10:16:00)), so the figure's value is the interval's middle and its one-sigma adds
the uniform interval's spread to the measurement's: σ² = σ_measured² + w²/12 (w = 60 s for a
minute: 17.3 s). The resolution is read from the report's own wording (`Instant.original`,
`resolution_s`). Reading "09:14" as 09:14:00 instead would bias every minute-worded time by
−30 s, the largest term in the time error.

Default one-sigma uncertainties when a report states none (`default_sigma`):

    quantity          exact               about (and bounds' nominal values)
    launch time       10 s                60 s      + the wording's resolution (above)
    seismic time      2 s                 10 s      + the wording's resolution (above)
    impact_time       10 s                60 s      + the wording's resolution
    positions         5 km                25 km     "Pyongyang area" is tens of km across
    apogee_km         3 % of the value    10 %      (at least 1 km)
    range_km          3 %                 10 %      (at least 1 km)
    flight_time_min   0.5 min             2 min
    magnitude         0.1                 0.2       agencies differ by 0.1–0.3 routinely
    yield_kt          20 %                40 %      (at least 0.1 kt) yield from magnitude is rough
    count             – (fused as the largest count, never averaged)

Where the time defaults come from (domain-facts.md, the published figures):

* launch times: KOR and JPN times of one launch differ by 60 s (18 Nov 2022: 10:15 and
  10:14), 0 s (18 Dec 2023: 08:24 both) and 120 s (14 Jan 2024: 14:55 and ~14:53): an RMS
  difference of 77 s. Less the two readings' minute intervals (2 × 60²/12) and shared between
  two reports, that is 52 s per report, taken up to 60 s for "about". An "exact" launch time
  is a detection stamp to the second: 10 s.
* seismic times: networks locate an origin time to about a second (USGS 03:30:01 for 3 Sep
  2017), and KOR's "12:29" holds that second within its minute (to 1 s). So a seismic time's
  uncertainty is its wording's resolution plus 2 s (exact) or 10 s (about) — not the 90 s
  once assumed, under which JPN's "~12:31" (two minutes off) could never be flagged: now it
  is, at 4.3 σ against KOR's "12:29".

A relative default is a share of the true value, not of the reported one: fusion applies it
to the fused value (tisa.fusion.estimates), so a low report does not weigh more for being low.

Bounds ("more than 6,000 km", "at least 1") are not values: fusion uses them as bounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from tisa.domain.model import (
    BASE_UNITS,
    Estimate,
    Instant,
    MissileLaunch,
    ObservationKind,
    Position,
    Qualifier,
)
from tisa.fusion.reports import Report, Source


class Quantity(StrEnum):
    """What a figure measures; the value is its JSON key."""

    TIME = "time"
    LAUNCH_POSITION = "launch_position"
    IMPACT_TIME = "impact_time"
    IMPACT_POSITION = "impact_position"
    SITE = "site"
    COUNT = "count"
    APOGEE_KM = "apogee_km"
    RANGE_KM = "range_km"
    FLIGHT_TIME_MIN = "flight_time_min"
    MAGNITUDE = "magnitude"
    YIELD_KT = "yield_kt"

    @property
    def unit(self) -> str:
        """'s' for times (seconds since the epoch), 'km' for places (their sigma), …"""
        return _UNITS[self]

    @property
    def is_place(self) -> bool:
        """True for positions: fused in the plane, compared by distance."""
        return self in (Quantity.LAUNCH_POSITION, Quantity.IMPACT_POSITION, Quantity.SITE)

    @property
    def is_time(self) -> bool:
        """True for instants."""
        return self in (Quantity.TIME, Quantity.IMPACT_TIME)

    @property
    def label(self) -> str:
        """Words for people: 'apogee', 'launch position'."""
        return _LABELS[self]


_UNITS = {
    Quantity.TIME: "s",
    Quantity.LAUNCH_POSITION: "km",
    Quantity.IMPACT_TIME: "s",
    Quantity.IMPACT_POSITION: "km",
    Quantity.SITE: "km",
    Quantity.COUNT: "missiles",
    Quantity.APOGEE_KM: "km",
    Quantity.RANGE_KM: "km",
    Quantity.FLIGHT_TIME_MIN: "min",
    Quantity.MAGNITUDE: "M",
    Quantity.YIELD_KT: "kt",
}
_LABELS = {
    Quantity.TIME: "time",
    Quantity.LAUNCH_POSITION: "launch position",
    Quantity.IMPACT_TIME: "impact time",
    Quantity.IMPACT_POSITION: "impact position",
    Quantity.SITE: "site",
    Quantity.COUNT: "count",
    Quantity.APOGEE_KM: "apogee",
    Quantity.RANGE_KM: "range",
    Quantity.FLIGHT_TIME_MIN: "flight time",
    Quantity.MAGNITUDE: "magnitude",
    Quantity.YIELD_KT: "yield",
}

# (exact, about): absolute in the unit, or relative to the value where marked.
_ABSOLUTE = {
    Quantity.TIME: (10.0, 60.0),
    Quantity.IMPACT_TIME: (10.0, 60.0),
    Quantity.LAUNCH_POSITION: (5.0, 25.0),
    Quantity.IMPACT_POSITION: (5.0, 25.0),
    Quantity.SITE: (5.0, 25.0),
    Quantity.FLIGHT_TIME_MIN: (0.5, 2.0),
    Quantity.MAGNITUDE: (0.1, 0.2),
    Quantity.COUNT: (0.0, 0.0),
}
_RELATIVE = {
    Quantity.APOGEE_KM: (0.03, 0.10, 1.0),
    Quantity.RANGE_KM: (0.03, 0.10, 1.0),
    Quantity.YIELD_KT: (0.20, 0.40, 0.1),
}


def relative_default(quantity: Quantity, qualifier: Qualifier) -> float | None:
    """The fraction of the value a default sigma is (apogee, range, yield), else None."""
    if quantity not in _RELATIVE:
        return None
    e, a, _ = _RELATIVE[quantity]
    return e if qualifier is Qualifier.EXACT else a


#: A seismic origin time's measured one-sigma (exact, about), beyond its wording's resolution.
_SEISMIC_TIME = (2.0, 10.0)

# The clock in an ISO 8601 time: hours, then minutes, seconds and a fraction where written.
_CLOCK = re.compile(r"[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?")


def resolution_s(original: str) -> float:
    """The width in seconds of the interval a time's wording names: 60 for "10:15+09:00", 1
    for "03:30:01Z", 0.1 for "03:30:01.2Z", 3600 for an hour alone, 86400 for a date."""
    found = _CLOCK.search(original)
    if found is None:
        return 86400.0
    if found.group(2) is None:
        return 3600.0
    if found.group(3) is None:
        return 60.0
    if found.group(4) is None:
        return 1.0
    return float(10.0 ** -len(found.group(4)))


def default_sigma(
    quantity: Quantity,
    qualifier: Qualifier,
    value: float = 0.0,
    kind: ObservationKind = ObservationKind.MISSILE_LAUNCH,
) -> float:
    """The one-sigma assumed for a figure that states none (table in the module docstring).

    For times it is the measurement's alone; `time_sigma` adds the wording's resolution.
    """
    exact = qualifier is Qualifier.EXACT
    if quantity is Quantity.TIME and kind is ObservationKind.NUCLEAR_TEST:
        return _SEISMIC_TIME[0] if exact else _SEISMIC_TIME[1]
    if quantity in _RELATIVE:
        e, a, floor = _RELATIVE[quantity]
        return max(floor, abs(value) * (e if exact else a))
    e, a = _ABSOLUTE[quantity]
    return e if exact else a


def time_sigma(measured: float, resolution: float) -> float:
    """One-sigma of a time worded to `resolution` seconds: the measurement's and the uniform
    interval's spread together, sqrt(σ² + w²/12)."""
    return math.sqrt(measured * measured + resolution * resolution / 12)


def iso_utc(seconds: float) -> str:
    """'2022-11-18T01:15:00Z' (whole seconds)."""
    moment = datetime.fromtimestamp(round(seconds), UTC)
    return moment.isoformat().replace("+00:00", "Z")


def number(value: float) -> str:
    """'6,100', '5.7', '69' — up to six significant digits, thousands separated."""
    return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"


def format_value(quantity: Quantity, value: float) -> str:
    """A value with its unit, as people write it: '6,100 km', 'M5.7', '2017-09-03T03:30:01Z'."""
    if quantity.is_time:
        return iso_utc(value)
    if quantity is Quantity.MAGNITUDE:
        return f"M{number(value)}"
    if quantity is Quantity.COUNT:
        return number(value)
    return f"{number(value)} {quantity.unit}"


def format_place(lat: float, lon: float, sigma_km: float | None, description: str = "") -> str:
    """'39.000°N 125.700°E ±10 km, Pyongyang area'."""
    text = f"{abs(lat):.3f}°{'N' if lat >= 0 else 'S'} {abs(lon):.3f}°{'E' if lon >= 0 else 'W'}"
    if sigma_km is not None:
        text += f" ±{number(sigma_km)} km"
    return f"{text}, {description}" if description else text


@dataclass(frozen=True)
class Figure:
    """One reported figure, normalised: the value fusion uses and the words the report used.

    For places `value` is None and `lat`/`lon` are set; `sigma` is then in km.
    """

    quantity: Quantity
    source: Source
    index: int
    qualifier: Qualifier
    value: float | None
    sigma: float
    stated_sigma: float | None
    text: str
    lat: float | None = None
    lon: float | None = None
    relative: float | None = None
    # The report's own wording where it has some: a time with its zone, a place's description.
    original: str | None = None
    # Times: the width of the interval the wording names (60 s for "10:15"); 0 otherwise.
    resolution: float = 0.0

    @property
    def is_lower_bound(self) -> bool:
        """'at least', 'more than'."""
        return self.qualifier in (Qualifier.AT_LEAST, Qualifier.MORE_THAN)

    @property
    def is_upper_bound(self) -> bool:
        """'up to', 'less than'."""
        return self.qualifier in (Qualifier.UP_TO, Qualifier.LESS_THAN)


def _estimate(q: Quantity, written: Estimate, report: Report) -> Figure:
    base = BASE_UNITS.get(q.value)
    # Computed in the field's own unit; the words keep the unit the originator wrote.
    e = written if base is None else written.converted(base)
    sigma = e.sigma if e.sigma is not None else default_sigma(q, e.qualifier, e.value)
    relative = None if e.sigma is not None else relative_default(q, e.qualifier)
    text = e.qualifier.words + format_value(q, e.value)
    if e.sigma is not None:
        text += f" ±{number(e.sigma)}"
    original = None
    if written.unit is not None and written.unit.value != q.unit:
        original = f"{written.qualifier.words}{number(written.value)} {written.unit.value}"
        if written.sigma is not None:
            original += f" ±{number(written.sigma)}"
        text += f" (reported as {original})"
    return Figure(
        q,
        report.source,
        report.index,
        e.qualifier,
        e.value,
        sigma,
        e.sigma,
        text,
        relative=relative,
        original=original,
    )


def interval_of(
    i: Instant, kind: ObservationKind, quantity: Quantity = Quantity.TIME
) -> tuple[float, float, float]:
    """(middle, one-sigma, width) of a reported time, seconds: the interval its wording names,
    its middle, and the measurement's sigma (stated, or the default) with the interval's."""
    width = resolution_s(i.original)
    measured = (
        i.sigma_s if i.sigma_s is not None else default_sigma(quantity, i.qualifier, kind=kind)
    )
    return i.utc.timestamp() + width / 2, time_sigma(measured, width), width


def _instant(q: Quantity, i: Instant, report: Report) -> Figure:
    start = i.utc.timestamp()
    middle, sigma, width = interval_of(i, report.kind, q)
    text = f"{i.qualifier.words}{iso_utc(start)} (reported as {i.original})"
    return Figure(
        q,
        report.source,
        report.index,
        i.qualifier,
        middle,
        sigma,
        i.sigma_s,
        text,
        original=i.original,
        resolution=width,
    )


def _place(q: Quantity, p: Position, report: Report) -> Figure:
    sigma = p.sigma_km if p.sigma_km is not None else default_sigma(q, Qualifier.ABOUT)
    text = format_place(p.lat, p.lon, p.sigma_km, p.description)
    return Figure(
        q,
        report.source,
        report.index,
        Qualifier.ABOUT,
        None,
        sigma,
        p.sigma_km,
        text,
        p.lat,
        p.lon,
        original=p.description or None,
    )


def figures_of(report: Report) -> tuple[Figure, ...]:
    """Every figure one observation gives, in `Quantity` order."""
    o = report.observation
    out = [_instant(Quantity.TIME, o.time, report)]
    if isinstance(o, MissileLaunch):
        if o.launch_position is not None:
            out.append(_place(Quantity.LAUNCH_POSITION, o.launch_position, report))
        if o.impact_time is not None:
            out.append(_instant(Quantity.IMPACT_TIME, o.impact_time, report))
        if o.impact_position is not None:
            out.append(_place(Quantity.IMPACT_POSITION, o.impact_position, report))
        for q, e in (
            (Quantity.COUNT, o.count),
            (Quantity.APOGEE_KM, o.apogee_km),
            (Quantity.RANGE_KM, o.range_km),
            (Quantity.FLIGHT_TIME_MIN, o.flight_time_min),
        ):
            if e is not None:
                out.append(_estimate(q, e, report))
    else:
        if o.position is not None:
            out.append(_place(Quantity.SITE, o.position, report))
        for q, e in ((Quantity.MAGNITUDE, o.magnitude), (Quantity.YIELD_KT, o.yield_kt)):
            if e is not None:
                out.append(_estimate(q, e, report))
    return tuple(out)
