"""Observations as STIX objects: a `note` per observation, a `location` per place.

STIX 2.1 has no object for a missile launch or a nuclear test (`observed-data` must refer to
cyber observables), so each observation is a `note` whose content says it in words, with the
figures in the `tisa` extension; each place it names (launch point, impact point, test site) is
a `location` a STIX consumer can put on a map.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tisa.domain.model import (
    Estimate,
    Instant,
    MissileLaunch,
    NuclearTest,
    Observation,
    Position,
)
from tisa.domain.wire import observation_to_wire
from tisa.stix.extensions import TISA_EXTENSION_ID

#: Per observation kind: the wire field of each place, and the extension's reference to it.
PLACES: Mapping[str, Mapping[str, str]] = {
    "missile-launch": {"launch_position": "launch-point", "impact_position": "impact-point"},
    "nuclear-test": {"position": "test-site"},
}
_REF = {
    "launch-point": "launch_point_ref",
    "impact-point": "impact_point_ref",
    "test-site": "test_site_ref",
}


def place_ref(kind: str) -> str:
    """The extension property that refers to the location of a place kind."""
    return _REF[kind]


def location_object(position: Position, kind: str, common: Mapping[str, Any]) -> dict[str, Any]:
    """A `location` for one place; `common` holds id, times, refs and markings."""
    obj: dict[str, Any] = {"type": "location", **common}
    if position.description:
        obj["name"] = position.description
    obj["latitude"] = position.lat
    obj["longitude"] = position.lon
    part: dict[str, Any] = {"extension_type": "property-extension", "kind": kind}
    if position.sigma_km is not None:
        # STIX's precision is metres; the km figure as reported stays in the extension (and
        # alone, should the metres be beyond a float).
        metres = position.sigma_km * 1000
        if math.isfinite(metres):
            obj["precision"] = metres
        part["sigma_km"] = position.sigma_km
    obj["extensions"] = {TISA_EXTENSION_ID: part}
    return obj


def note_part(observation: Observation, location_ids: Mapping[str, str]) -> dict[str, Any]:
    """The `tisa` extension of an observation's note: its wire form, each place replaced by
    a reference to its location."""
    wire = observation_to_wire(observation)
    part: dict[str, Any] = {"extension_type": "property-extension"}
    for key, value in wire.items():
        place = PLACES[observation.kind.value].get(key)
        if place is None:
            part[key] = value
        else:
            part[_REF[place]] = location_ids[place]
    return part


def places(observation: Observation) -> dict[str, Position]:
    """The places an observation names, by kind, in a fixed order."""
    found: dict[str, Position] = {}
    for key, kind in PLACES[observation.kind.value].items():
        position = getattr(observation, key)
        if position is not None:
            found[kind] = position
    return found


# --- words, for consumers that read only STIX ---------------------------------------------


def _figure(estimate: Estimate, unit: str = "") -> str:
    if estimate.unit is not None:
        unit = f" {estimate.unit.value}"  # as the originator wrote it
    sigma = f" ± {estimate.sigma:g}" if estimate.sigma is not None else ""
    return f"{estimate.qualifier.words}{estimate.value:g}{sigma}{unit}"


def _time(instant: Instant) -> str:
    sigma = f" ± {instant.sigma_s:g} s" if instant.sigma_s is not None else ""
    return f"{instant.qualifier.words}{instant.original}{sigma}"


def _place(position: Position) -> str:
    where = f"{position.description} " if position.description else ""
    sigma = f" ± {position.sigma_km:g} km" if position.sigma_km is not None else ""
    return f"{where}({position.lat:g}, {position.lon:g}{sigma})"


def abstract(observation: Observation) -> str:
    """A note's abstract: what was observed, in a few words."""
    if isinstance(observation, MissileLaunch):
        return f"Missile launch ({observation.missile_class.value}), {observation.time.original}"
    return f"Nuclear test, {observation.time.original}"


def content(observation: Observation) -> str:
    """A note's content: the observation's figures as a sentence."""
    if isinstance(observation, NuclearTest):
        return _test_sentence(observation)
    o = observation
    parts = [f"Missile launch ({o.missile_class.value}) at {_time(o.time)}"]
    if o.launch_position is not None:
        parts.append(f"from {_place(o.launch_position)}")
    clauses = [" ".join(parts)]
    for label, estimate, unit in (
        ("count", o.count, ""),
        ("apogee", o.apogee_km, " km"),
        ("range", o.range_km, " km"),
        ("flight time", o.flight_time_min, " min"),
    ):
        if estimate is not None:
            clauses.append(f"{label} {_figure(estimate, unit)}")
    if o.impact_time is not None or o.impact_position is not None:
        impact = "impact"
        if o.impact_time is not None:
            impact += f" at {_time(o.impact_time)}"
        if o.impact_position is not None:
            impact += f" {_place(o.impact_position)}"
        clauses.append(impact)
    if o.inside_eez is not None:
        clauses.append("inside the EEZ" if o.inside_eez else "outside the EEZ")
    if o.lofted is not None:
        clauses.append("lofted" if o.lofted else "not lofted")
    return "; ".join(clauses) + "."


def _test_sentence(o: NuclearTest) -> str:
    clauses = [f"Nuclear test at {_time(o.time)}"]
    if o.position is not None:
        clauses[0] += f" at {_place(o.position)}"
    if o.magnitude is not None:
        clauses.append(f"magnitude {_figure(o.magnitude)}")
    if o.yield_kt is not None:
        clauses.append(f"yield {_figure(o.yield_kt, ' kt')}")
    return "; ".join(clauses) + "."
