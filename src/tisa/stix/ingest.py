"""STIX 2.1 bundles as drafts: each `report` (or MISP-style `grouping`) one draft or a refusal.

What a draft takes from a report, and from where (docs/stix.md has the whole of it):

- title and text: `name`, and `description` (or else the notes the report names that are not
  tisa observations, such as a MISP event report);
- markings: ISA ACS 3.0 and tisa marking definitions, and the classification and REL TO tags of
  the MISP convention (tisa.stix.misp). Never guessed: with no classification, no REL TO, or
  markings that disagree, the report is refused;
- topics: labels that are topics (or `tisa:topic` tags); refused when none is in the
  arrangement's scope;
- observations: the notes carrying the tisa extension, with the locations they refer to, or the
  MISP convention's tags and tagged geolocations.

Scope beyond that, the channel ceiling and who may release what are the services' to decide.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tisa.domain.arrangement import Arrangement, is_topic
from tisa.domain.markings import Classification
from tisa.domain.wire import DraftIn, parse
from tisa.errors import InputInvalid, MarkingInvalid
from tisa.stix import misp
from tisa.stix.extensions import TISA_EXTENSION_ID
from tisa.stix.markings import Claim, Unreadable, claim_of
from tisa.stix.observations import PLACES, place_ref


@dataclass(frozen=True)
class Refusal:
    """A report of the bundle that cannot be a draft, and why."""

    object_id: str
    reason: str


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Index = Mapping[str, Mapping[str, Any]]


def drafts_of(bundle: Mapping[str, Any], arrangement: Arrangement) -> list[DraftIn | Refusal]:
    """Each `report` or `grouping` of a bundle as a draft, or a Refusal naming why it cannot
    be one (no classification marking, no topic in the arrangement's scope, unreadable figures,
    revoked...), in the order the bundle first names them. Where a bundle holds several
    versions of one object, the latest (`modified`) is read.

    Raises:
        InputInvalid: not a STIX 2.1 bundle at all (not a bundle, a STIX 2.0 bundle, an object
            without a type and a matching id).
    """
    return [outcome for _, outcome in read(bundle, arrangement)]


def read(
    bundle: Mapping[str, Any], arrangement: Arrangement
) -> list[tuple[str, DraftIn | Refusal]]:
    """`drafts_of`, each outcome with the id of the report or grouping it was read from.

    Raises:
        InputInvalid: as `drafts_of`.
    """
    objects = _objects(bundle)
    index = _latest(objects)
    read_from: list[tuple[str, DraftIn | Refusal]] = []
    seen: set[str] = set()
    for obj in objects:
        object_id = obj["id"]
        if obj["type"] not in ("report", "grouping") or object_id in seen:
            continue
        seen.add(object_id)
        try:
            read_from.append((object_id, _draft(index[object_id], index, arrangement)))
        except _Refused as refused:
            read_from.append((object_id, Refusal(object_id, refused.reason)))
    return read_from


# --- the bundle ------------------------------------------------------------------------------


def _objects(bundle: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(bundle, Mapping) or bundle.get("type") != "bundle":
        raise InputInvalid("not a STIX bundle: its type is not 'bundle'")
    if "spec_version" in bundle:
        # STIX 2.0 bundles carry a spec_version; 2.1 moved it onto each object.
        raise InputInvalid(f"a STIX {bundle['spec_version']} bundle, not STIX 2.1")
    objects = bundle.get("objects", [])
    if not isinstance(objects, list):
        raise InputInvalid("not a STIX bundle: 'objects' is not a list")
    for position, obj in enumerate(objects):
        where = f"objects[{position}]"
        if not isinstance(obj, Mapping):
            raise InputInvalid(f"{where} is not a JSON object")
        kind, object_id = obj.get("type"), obj.get("id")
        if not (isinstance(kind, str) and isinstance(object_id, str)):
            raise InputInvalid(f"{where} has no type or no id")
        if not object_id.startswith(kind + "--"):
            raise InputInvalid(f"{where}: id {object_id!r} is not of its type {kind!r}")
        version = obj.get("spec_version", "2.1")
        if version != "2.1":
            raise InputInvalid(f"{where} ({object_id}) is STIX {version!r}, not 2.1")
    return objects


def _modified(obj: Mapping[str, Any]) -> datetime | None:
    value = obj.get("modified")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _latest(objects: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    index: dict[str, Mapping[str, Any]] = {}
    for obj in objects:
        held = index.get(obj["id"])
        if held is None:
            index[obj["id"]] = obj
            continue
        mine, theirs = _modified(obj), _modified(held)
        if mine is not None and (theirs is None or mine > theirs):
            index[obj["id"]] = obj
    return index


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _tisa(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    extensions = obj.get("extensions")
    part = extensions.get(TISA_EXTENSION_ID) if isinstance(extensions, Mapping) else None
    return part if isinstance(part, Mapping) else None


# --- one report ---------------------------------------------------------------------------


def _draft(report: Mapping[str, Any], index: Index, arrangement: Arrangement) -> DraftIn:
    if report.get("revoked") is True:
        raise _Refused("revoked: its producer withdrew it")
    title = report.get("name")
    if not isinstance(title, str) or not title.strip():
        raise _Refused("no name, which a draft needs as its title")
    refs = _strings(report.get("object_refs"))
    labels = _strings(report.get("labels"))
    product = _tisa(report) or {}
    level, rel_to, orcon = _markings(report, refs, labels, index, arrangement)
    fields: dict[str, Any] = {
        "title": title,
        "text": _text(report, refs, index),
        "classification": level.name,
        "rel_to": sorted(rel_to),
        "orcon": orcon,
        "topics": _topics(labels, arrangement),
        "observations": _tisa_observations(refs, index) + _misp_observations(labels, refs, index),
    }
    fields |= _handling(product, labels)
    try:
        draft = parse(DraftIn, fields)
        for observation in draft.observations:
            observation.to_domain()
    except InputInvalid as exc:
        raise _Refused(exc.reason) from None
    return draft


def _text(report: Mapping[str, Any], refs: Sequence[str], index: Index) -> str:
    description = report.get("description")
    if isinstance(description, str):
        return description
    # A MISP event's text travels as event-report notes; a tisa note is an observation.
    notes = [index.get(ref) for ref in refs if ref.startswith("note--")]
    words = [
        note["content"]
        for note in notes
        if note is not None and _tisa(note) is None and isinstance(note.get("content"), str)
    ]
    return "\n\n".join(words)


def _markings(
    report: Mapping[str, Any],
    refs: Sequence[str],
    labels: Sequence[str],
    index: Index,
    arrangement: Arrangement,
) -> tuple[Classification, frozenset[str], bool]:
    # misp-stix lists an event's ACS markings among the grouping's object_refs, not its
    # object_marking_refs; either way they mark the report.
    marking_ids = [*_strings(report.get("object_marking_refs"))]
    marking_ids += [ref for ref in refs if ref.startswith("marking-definition--")]
    claims: list[Claim] = []
    try:
        for marking_id in dict.fromkeys(marking_ids):
            definition = index.get(marking_id)
            claim = None if definition is None else claim_of(definition)
            if claim is not None:
                claims.append(claim)
        claims += _label_claims(labels, arrangement)
    except (Unreadable, misp.Unreadable) as exc:
        raise _Refused(f"unreadable marking: {exc}") from None

    levels = {c.level for c in claims if c.level is not None}
    if not levels:
        raise _Refused(
            "no classification marking (an ISA ACS or tisa marking definition, or a "
            "tisa:classification or acs-marking:classification tag): a classification is "
            "never guessed"
        )
    if len(levels) > 1:
        said = "; ".join(f"{c.source} says {c.level.label}" for c in claims if c.level)
        raise _Refused(f"the markings disagree on the classification: {said}")
    rel_tos = {c.rel_to for c in claims if c.rel_to is not None}
    if not rel_tos:
        raise _Refused(
            "no REL TO marking (ACS permitted_nationalities, a tisa marking, or tisa:rel-to "
            "tags): releasability is never guessed"
        )
    if len(rel_tos) > 1:
        said = "; ".join(
            f"{c.source} says {', '.join(sorted(c.rel_to))}" for c in claims if c.rel_to
        )
        raise _Refused(f"the markings disagree on REL TO: {said}")
    return levels.pop(), rel_tos.pop(), any(c.orcon for c in claims)


def _label_claims(labels: Sequence[str], arrangement: Arrangement) -> list[Claim]:
    claims = []
    for predicate, value in misp.tags(labels, "tisa"):
        if predicate == "classification":
            level = _level_of_words(_value(predicate, value), arrangement)
            claims.append(Claim(f'tag tisa:classification="{value}"', level=level))
        elif predicate == "orcon" and value in (None, "true"):
            claims.append(Claim("tag tisa:orcon", orcon=True))
    for predicate, value in misp.tags(labels, "acs-marking"):
        if predicate == "classification":
            acs = {"C": "CONFIDENTIAL", "S": "SECRET", "TS": "TOP_SECRET"}.get(value or "")
            if acs is None:
                raise misp.Unreadable(f"acs-marking:classification={value!r} has no tisa level")
            claims.append(Claim(f"tag acs-marking:classification={value}", Classification[acs]))
    nations = [_value(p, v) for p, v in misp.tags(labels, "tisa") if p == "rel-to"]
    if nations:
        claims.append(Claim("tags tisa:rel-to", rel_to=frozenset(nations)))
    return claims


def _value(predicate: str, value: str | None) -> str:
    if value is None:
        raise misp.Unreadable(f"tag tisa:{predicate} has no value")
    return value


def _level_of_words(words: str, arrangement: Arrangement) -> Classification:
    """A level named by its common name or by a party's national term; a term two schemes
    use for different levels names none."""
    levels = {
        level
        for scheme in arrangement.terms.values()
        for level, term in scheme.items()
        if term == words
    }
    with contextlib.suppress(MarkingInvalid):
        levels.add(Classification.parse(words))
    if len(levels) != 1:
        raise misp.Unreadable(f"classification {words!r} is no one level of the arrangement")
    return levels.pop()


def _topics(labels: Sequence[str], arrangement: Arrangement) -> list[str]:
    topics = {label for label in labels if is_topic(label)}
    topics |= {v for p, v in misp.tags(labels, "tisa") if p == "topic" and v is not None}
    if not topics & arrangement.scope:
        named = ", ".join(sorted(topics)) or "none"
        raise _Refused(f"no topic in the arrangement's scope (topics named: {named})")
    return sorted(topics)


def _handling(product: Mapping[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """Precedence and source grading: the tisa extension's, or the MISP convention's tags;
    absent, the draft's defaults (ROUTINE, F, 6: cannot be judged)."""
    fields: dict[str, Any] = {}
    for predicate, value in misp.tags(labels, "tisa"):
        if predicate == "precedence" and value is not None:
            fields["precedence"] = value
    for predicate, value in misp.tags(labels, "admiralty-scale"):
        if predicate == "source-reliability" and value is not None:
            fields["source_reliability"] = value.upper()
        elif predicate == "information-credibility" and value is not None:
            fields["information_credibility"] = value
    for key in ("precedence", "source_reliability", "information_credibility"):
        if key in product:
            fields[key] = product[key]
    return fields


# --- observations -------------------------------------------------------------------------


def _position(location: Mapping[str, Any]) -> dict[str, Any]:
    position: dict[str, Any] = {"lat": location.get("latitude"), "lon": location.get("longitude")}
    part = _tisa(location)
    if part is not None:
        if "sigma_km" in part:
            position["sigma_km"] = part["sigma_km"]
    elif isinstance(location.get("precision"), int | float):
        # STIX's precision is in metres; tisa's uncertainty in km.
        position["sigma_km"] = location["precision"] / 1000
    words = location.get("name", location.get("description", ""))
    position["description"] = words
    return position


def _location(ref: Any, index: Index, where: str) -> Mapping[str, Any]:
    location = index.get(ref) if isinstance(ref, str) else None
    if location is None or location.get("type") != "location":
        raise _Refused(f"{where} refers to {ref!r}, which is no location in the bundle")
    return location


def _tisa_observations(refs: Sequence[str], index: Index) -> list[dict[str, Any]]:
    found = []
    for ref in refs:
        note = index.get(ref)
        part = None if note is None or note.get("type") != "note" else _tisa(note)
        if part is None or part.get("kind") not in PLACES:
            continue
        kind = part["kind"]
        observation = {k: v for k, v in part.items() if k != "extension_type"}
        for field, place in PLACES[kind].items():
            pointer = observation.pop(place_ref(place), None)
            if pointer is not None:
                observation[field] = _position(_location(pointer, index, ref))
        found.append(observation)
    return found


def _misp_observations(
    labels: Sequence[str], refs: Sequence[str], index: Index
) -> list[dict[str, Any]]:
    tags = misp.tags(labels, "tisa")
    kinds = [value for predicate, value in tags if predicate == "observation"]
    if not kinds:
        return []
    if len(kinds) > 1:
        raise _Refused("more than one tisa:observation tag: the convention is one per event")
    kind = kinds[0]
    if kind not in misp.POINTS:
        raise _Refused(f"tisa:observation={kind!r} is not one of {', '.join(misp.POINTS)}")
    observation: dict[str, Any] = {"kind": kind}
    readers = (
        (misp.ESTIMATES, misp.estimate),
        (misp.INSTANTS, misp.instant),
        (misp.FLAGS, misp.flag),
        ({"missile-class": "missile_class"}, misp.missile_class),
    )
    try:
        for predicate, value in tags:
            for fields, read in readers:
                if predicate in fields:
                    what = f"tisa:{predicate}"
                    _put(observation, fields[predicate], read(_value(predicate, value), what))
        for ref in refs:
            location = index.get(ref)
            if location is None or location.get("type") != "location":
                continue
            for predicate, value in misp.tags(_strings(location.get("labels")), "tisa"):
                if predicate != "point":
                    continue
                field = misp.POINTS[kind].get(value or "")
                if field is None:
                    raise misp.Unreadable(f"{ref}: tisa:point={value!r} is no place of a {kind}")
                _put(observation, field, _position(location))
    except misp.Unreadable as exc:
        raise _Refused(f"unreadable figures: {exc}") from None
    return [observation]


def _put(observation: dict[str, Any], field: str, value: Any) -> None:
    if field in observation and observation[field] != value:
        raise misp.Unreadable(f"two different values for {field}")
    observation[field] = value
