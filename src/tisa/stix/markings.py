"""A product's markings as STIX marking definitions, and markings read back from them.

Three marking definitions, each whole for the consumer that knows it:

1. ISA ACS 3.0 (`ACS_EXTENSION_ID`): the US-equivalent level (`control_set.classification`,
   U/C/S/TS), REL TO as `control_set.permitted_nationalities`, the holder as custodian and the
   originator as `responsible_entity_originator`; ORCON as further sharing denied by default
   (`sharedefault=deny` in `policy_reference`), since ACS 3.0 has no ORCON of its own.
2. tisa (`TISA_MARKING_EXTENSION_ID`): the common level, the originator's national term and the
   holder's (the holder marks what it holds with the originator's name and its own equivalent
   level), REL TO and ORCON.
3. A `statement`: the banner line in the holder's scheme, for consumers that know neither.

Marking definitions never change, so each id is named by its content: the same markings held at
the same party are the same object in every export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tisa.domain.arrangement import Arrangement
from tisa.domain.markings import Classification, Markings, rel_to_order
from tisa.stix.extensions import ACS_EXTENSION_ID, TISA_MARKING_EXTENSION_ID
from tisa.stix.ids import MAPPING_EPOCH, content_id, stix_id, timestamp

# ACS 3.0 `control_set.classification` letters for tisa's common levels (the US levels:
# the equivalence table names the US term for each).
_ACS_LEVEL = {
    Classification.CONFIDENTIAL: "C",
    Classification.SECRET: "S",
    Classification.TOP_SECRET: "TS",
}
_LEVEL_OF_ACS = {letter: level for level, letter in _ACS_LEVEL.items()}

_POLICY = "urn:isa:policy:acs:ns:v3.0?privdefault=permit&sharedefault={}"
_POLICY_SHARE = re.compile(r"sharedefault=(permit|deny)")


def party_identity_id(arrangement: Arrangement, code: str) -> str:
    """The id of a party's identity object: named by its code and its name in the arrangement
    (identities carry no version of their own, so a renamed party is a new identity).

    Raises:
        InputInvalid: `code` is not a party to the arrangement.
    """
    return stix_id("identity", "party", code, arrangement.party(code).name)


def custodian(code: str) -> str:
    """An ACS organisation for a party: its government (the arrangement names no agencies)."""
    return f"{code}.GOV"


def acs_marking(markings: Markings, arrangement: Arrangement, here: str) -> dict[str, Any]:
    """The ISA ACS 3.0 marking definition of `markings` as held at `here`.

    Raises:
        InputInvalid: `here` is not a party to the arrangement.
    """
    letter = _ACS_LEVEL[markings.classification]
    controls = "ORCON/" if markings.orcon else ""
    name = f"{letter}//{controls}{markings.rel_to_line}"
    share = "deny" if markings.orcon else "permit"
    body: dict[str, Any] = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "created": timestamp(MAPPING_EPOCH),
        "created_by_ref": party_identity_id(arrangement, here),
        "name": f"ISA ACS 3.0 {name}",
        "extensions": {
            ACS_EXTENSION_ID: {
                "extension_type": "property-extension",
                "name": name,
                "create_date_time": timestamp(MAPPING_EPOCH),
                "responsible_entity_custodian": custodian(here),
                "responsible_entity_originator": custodian(markings.originator),
                "policy_reference": _POLICY.format(share),
                "control_set": {
                    "classification": letter,
                    "permitted_nationalities": list(rel_to_order(markings.rel_to)),
                },
            }
        },
    }
    # ACS asks for an identifier of the marked resource; the marking definition is that
    # resource here, so it is named like the object's id, by the content around it.
    uid = content_id("marking-definition", {**body, "arrangement": arrangement.id})
    body["extensions"][ACS_EXTENSION_ID]["identifier"] = (
        f"isa:{arrangement.id}.ACS3-{uid.removeprefix('marking-definition--')}"
    )
    return _with_id(body, uid)


def tisa_marking(markings: Markings, arrangement: Arrangement, here: str) -> dict[str, Any]:
    """The tisa marking definition: the level in the originator's and `here`'s schemes.

    Raises:
        InputInvalid: the originator or `here` is not a party to the arrangement.
    """
    level = markings.classification
    origin_term = arrangement.term(markings.originator, level)
    here_term = arrangement.term(here, level)
    body: dict[str, Any] = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "created": timestamp(MAPPING_EPOCH),
        "created_by_ref": party_identity_id(arrangement, here),
        "name": f"{markings.originator} {origin_term}, held by {here} as {here_term}",
        "extensions": {
            TISA_MARKING_EXTENSION_ID: {
                "extension_type": "property-extension",
                "arrangement": arrangement.id,
                "level": level.name,
                "originator": markings.originator,
                "originator_term": origin_term,
                "holder": here,
                "holder_term": here_term,
                "rel_to": list(rel_to_order(markings.rel_to)),
                "orcon": markings.orcon,
            }
        },
    }
    return _with_id(body, content_id("marking-definition", body))


def statement_marking(markings: Markings, arrangement: Arrangement, here: str) -> dict[str, Any]:
    """The banner line in `here`'s scheme, as a STIX statement marking.

    Raises:
        InputInvalid: `here` is not a party to the arrangement.
    """
    line = markings.banner(arrangement.term(here, markings.classification), here)
    body: dict[str, Any] = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "created": timestamp(MAPPING_EPOCH),
        "created_by_ref": party_identity_id(arrangement, here),
        "name": line,
        "definition_type": "statement",
        "definition": {"statement": line},
    }
    return _with_id(body, content_id("marking-definition", body))


def _with_id(body: dict[str, Any], object_id: str) -> dict[str, Any]:
    # The id where STIX objects usually show it, after type and spec_version.
    head = {"type": body["type"], "spec_version": body["spec_version"], "id": object_id}
    return head | body


# --- reading markings back ------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What one marking source says: a level, a REL TO, ORCON (each None when it is silent),
    and where it was read, for the reasons a refusal gives."""

    source: str
    level: Classification | None = None
    rel_to: frozenset[str] | None = None
    orcon: bool = False


class Unreadable(Exception):
    """A marking that is there but cannot be read as one of tisa's (not a TisaError: ingest
    turns it into a Refusal of the report, naming why)."""


def claim_of(definition: Mapping[str, Any]) -> Claim | None:
    """What a marking definition says of classification, REL TO and ORCON; None for markings
    that say nothing of them (TLP, statements: a statement is words for people and is never
    parsed into a level).

    Raises:
        Unreadable: an ACS or tisa marking whose level or nationalities are not tisa's.
    """
    source = str(definition.get("id", "marking-definition"))
    extensions = definition.get("extensions")
    if not isinstance(extensions, Mapping):
        return None
    tisa = extensions.get(TISA_MARKING_EXTENSION_ID)
    if isinstance(tisa, Mapping):
        return _tisa_claim(source, tisa)
    acs = extensions.get(ACS_EXTENSION_ID)
    if isinstance(acs, Mapping):
        return _acs_claim(source, acs)
    return None


def _tisa_claim(source: str, part: Mapping[str, Any]) -> Claim:
    level = part.get("level")
    rel_to = part.get("rel_to")
    if not isinstance(level, str) or level not in Classification.__members__:
        raise Unreadable(f"{source}: tisa marking level {level!r} is not a tisa level")
    return Claim(
        source=source,
        level=Classification[level],
        rel_to=_nationalities(source, rel_to),
        orcon=part.get("orcon") is True,
    )


def _acs_claim(source: str, part: Mapping[str, Any]) -> Claim:
    controls = part.get("control_set")
    if not isinstance(controls, Mapping):
        raise Unreadable(f"{source}: ACS marking without a control_set")
    letter = controls.get("classification")
    level = _LEVEL_OF_ACS.get(letter) if isinstance(letter, str) else None
    if level is None:
        raise Unreadable(
            f"{source}: ACS classification {letter!r} has no tisa level "
            f"(tisa carries {', '.join(_LEVEL_OF_ACS)})"
        )
    nationalities = controls.get("permitted_nationalities")
    policy = part.get("policy_reference")
    share = _POLICY_SHARE.search(policy) if isinstance(policy, str) else None
    return Claim(
        source=source,
        level=level,
        rel_to=None if nationalities is None else _nationalities(source, nationalities),
        # Further sharing denied unless permitted is what ORCON asks; read conservatively.
        orcon=share is not None and share.group(1) == "deny",
    )


def _nationalities(source: str, value: Any) -> frozenset[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and re.fullmatch(r"[A-Z]{3}", v) for v in value)
    ):
        raise Unreadable(f"{source}: REL TO {value!r} is not a list of country trigraphs")
    return frozenset(value)
