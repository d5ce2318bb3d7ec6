"""The MISP convention: how a MISP event carries what tisa needs, through misp-stix.

MISP marks and describes with tags; misp-stix (MISPtoSTIX21Parser) writes an event's tags as
the `labels` of its `grouping` (or `report`, once published) and the tags of a MISP object's
attributes as the labels of the STIX object it becomes. tisa reads these machine tags:

    tisa:classification="SECRET"        a common level, or a party's national term (極秘)
    acs-marking:classification="S"      the MISP taxonomy of ISA ACS: U/C/S/TS
    tisa:rel-to="KOR"                   one tag per party the event is releasable to
    tisa:orcon                          originator controlled
    tisa:precedence="FLASH"
    tisa:topic="dprk.missile.launch"    (a bare label that is a topic counts too)
    admiralty-scale:source-reliability="b"   admiralty-scale:information-credibility="2"

One observation per event, from event tags:

    tisa:observation="missile-launch"   or "nuclear-test"
    tisa:time="about 2024-01-14T14:55+09:00"      impact-time likewise
    tisa:missile-class="IRBM"
    tisa:count="at least 1"   tisa:apogee-km="more than 50"   tisa:range-km="about 1000 ± 50"
    tisa:flight-time-min="73"   tisa:magnitude="6.1 ± 0.1"   tisa:yield-kt="up to 160"
    tisa:inside-eez="false"   tisa:lofted="true"

and its places from `geolocation` objects (latitude, longitude, accuracy-radius in km, text),
each with a tag on one of its attributes saying which place it is:

    tisa:point="launch"   tisa:point="impact"   tisa:point="test-site"

A figure is `[hedge] number [± sigma]`, the hedge one of exact, about (the default), at least,
more than, up to, less than; a time is an ISO 8601 time with its zone, hedged the same way, its
sigma in seconds. docs/stix.md has the worked example.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tisa.domain.model import MissileClass, Qualifier

_TAG = re.compile(r'(?P<namespace>[a-z0-9-]+):(?P<predicate>[a-z0-9_-]+)(?:="(?P<value>.*)")?')
# Each hedge as words ("at least") and as tisa's wire spells it ("at_least").
_HEDGES = [(spelling, q) for q in Qualifier for spelling in {q.value.replace("_", " "), q.value}]
_SIGMA = re.compile(r"\s*(?:±|\+/-)\s*")

#: Figures of an observation, by tag predicate: the wire field each fills.
ESTIMATES = {
    "count": "count",
    "apogee-km": "apogee_km",
    "range-km": "range_km",
    "flight-time-min": "flight_time_min",
    "magnitude": "magnitude",
    "yield-kt": "yield_kt",
}
INSTANTS = {"time": "time", "impact-time": "impact_time"}
FLAGS = {"inside-eez": "inside_eez", "lofted": "lofted"}
#: Which place a `tisa:point` names, as a wire field of each observation kind.
POINTS = {
    "missile-launch": {"launch": "launch_position", "impact": "impact_position"},
    "nuclear-test": {"test-site": "position"},
}


class Unreadable(Exception):
    """A tag whose value is not what its predicate asks for."""


def tags(labels: Iterable[Any], namespace: str) -> list[tuple[str, str | None]]:
    """(predicate, value) of each label that is a machine tag of `namespace`, in order."""
    found = []
    for label in labels:
        if not isinstance(label, str):
            continue
        match = _TAG.fullmatch(label)
        if match and match["namespace"] == namespace:
            found.append((match["predicate"], match["value"]))
    return found


def _hedged(text: str) -> tuple[Qualifier, str, str | None]:
    """Split '[hedge] value [± sigma]'."""
    rest = text.strip()
    qualifier = Qualifier.ABOUT
    for words, q in _HEDGES:
        if rest.startswith(words + " "):
            qualifier, rest = q, rest[len(words) + 1 :].strip()
            break
    value, *sigma = _SIGMA.split(rest, maxsplit=1)
    return qualifier, value.strip(), sigma[0].strip() if sigma else None


def _number(text: str, what: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise Unreadable(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise Unreadable(f"{what}: {text!r} is not a finite number")
    return number


def estimate(text: str, what: str) -> dict[str, Any]:
    """`'about 1000 ± 50'` as the wire form of an estimate.

    Raises:
        Unreadable: not a hedged number.
    """
    qualifier, value, sigma = _hedged(text)
    out: dict[str, Any] = {"value": _number(value, what), "qualifier": qualifier.value}
    if sigma is not None:
        out["sigma"] = _number(sigma, what)
    return out


def instant(text: str, what: str) -> dict[str, Any]:
    """`'about 2024-01-14T14:55+09:00 ± 60'` as the wire form of an instant.

    Raises:
        Unreadable: not a hedged ISO 8601 time with a zone.
    """
    qualifier, value, sigma = _hedged(text)
    try:
        zoned = datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        zoned = False
    if not zoned:
        raise Unreadable(f"{what}: {value!r} is not an ISO 8601 time with its zone")
    out: dict[str, Any] = {"original": value, "qualifier": qualifier.value}
    if sigma is not None:
        out["sigma_s"] = _number(sigma.removesuffix("s").strip(), what)
    return out


def flag(text: str, what: str) -> bool:
    """'true' or 'false'.

    Raises:
        Unreadable: anything else.
    """
    if text in ("true", "false"):
        return text == "true"
    raise Unreadable(f"{what}: {text!r} is neither true nor false")


def missile_class(text: str, what: str) -> str:
    """A missile class as tisa names them ('IRBM').

    Raises:
        Unreadable: not one of tisa's classes.
    """
    if text in {c.value for c in MissileClass}:
        return text
    known = ", ".join(MissileClass)
    raise Unreadable(f"{what}: {text!r} is not a missile class ({known})")
