"""A product version as STIX 2.1 objects, as held at one party.

    bundle(product, arrangement, here=..., first_created=...)
      ├── version_objects   report (one id across versions), then per observation a note and
      │                     its locations (ids per version)
      ├── marking_objects   ISA ACS 3.0, tisa's national schemes, the banner as a statement
      └── common_objects    an identity per party and for tisa, the tisa extension definitions

Pure: the same product, arrangement and party always give the same objects, and `canonical`
gives them as the same bytes. Which name makes which id is in docs/stix.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tisa.domain.arrangement import Arrangement
from tisa.domain.canonical import canonical_json, sha256_digest
from tisa.domain.markings import InformationCredibility
from tisa.domain.model import Product
from tisa.domain.wire import attachment_to_wire
from tisa.errors import InputInvalid
from tisa.stix import observations
from tisa.stix.extensions import (
    TISA_EXTENSION_ID,
    extension_definitions,
    tisa_identity,
)
from tisa.stix.ids import MAPPING_EPOCH, stix_id, timestamp
from tisa.stix.markings import (
    acs_marking,
    party_identity_id,
    statement_marking,
    tisa_marking,
)

# STIX 2.1's normative mapping of the Admiralty credibility scale to `confidence` (Appendix A
# of the specification); 6, "cannot be judged", has no value and leaves `confidence` out.
_CONFIDENCE = {
    InformationCredibility.CONFIRMED: 90,
    InformationCredibility.PROBABLY_TRUE: 70,
    InformationCredibility.POSSIBLY_TRUE: 50,
    InformationCredibility.DOUBTFUL: 30,
    InformationCredibility.IMPROBABLE: 10,
}


def report_id(product_id: str) -> str:
    """The report of a product: one id for all its versions, as STIX versioning requires of
    one object whose content changes."""
    return stix_id("report", product_id)


def version_objects(
    product: Product,
    arrangement: Arrangement,
    *,
    here: str,
    first_created: datetime,
    recalled_at: datetime | None = None,
    reissued_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The STIX objects of one product version as held at party `here`: the `report` first,
    then per observation its `note` and the `location`s it names. Each carries
    `object_marking_refs` to the product's marking definitions (see `marking_objects`) and
    `created_by_ref` to the originator's identity.

    The report is versioned: `created` is `first_created` (version 1's time), `modified` the
    version's `created_at`; a recalled version is one more version of each object, revoked,
    `modified` at `recalled_at`. Notes and locations belong to one version (their ids name it).
    `reissued_at` says this version stands again from that time (a later one was recalled):
    its objects are written as modified then.

    Raises:
        InputInvalid: the originator or `here` is not a party to the arrangement, or the times
            run backwards (`first_created` after the version, `recalled_at` before it).
    """
    if first_created > product.created_at:
        raise InputInvalid("first_created is after this version's created_at")
    for name, moment in (("recalled_at", recalled_at), ("reissued_at", reissued_at)):
        if moment is not None and moment < product.created_at:
            raise InputInvalid(f"{name} is before this version's created_at")
    creator = party_identity_id(arrangement, product.originator)
    markings = [m["id"] for m in marking_objects(product, arrangement, here=here)]
    modified = timestamp(recalled_at or reissued_at or product.created_at)
    confidence = _CONFIDENCE.get(product.information_credibility)

    def common(object_id: str, created: datetime) -> dict[str, Any]:
        head: dict[str, Any] = {
            "spec_version": "2.1",
            "id": object_id,
            "created": timestamp(created),
            "modified": modified,
            "created_by_ref": creator,
        }
        if confidence is not None:
            head["confidence"] = confidence
        if recalled_at is not None:
            head["revoked"] = True
        head["object_marking_refs"] = markings
        return head

    the_report = report_id(product.id)
    parts: list[dict[str, Any]] = []
    for index, observation in enumerate(product.observations):
        located: dict[str, str] = {}
        locations: list[dict[str, Any]] = []
        for kind, position in observations.places(observation).items():
            location_id = stix_id("location", product.id, product.version, index, kind)
            located[kind] = location_id
            locations.append(
                observations.location_object(
                    position, kind, common(location_id, product.created_at)
                )
            )
        note_id = stix_id("note", product.id, product.version, index)
        note = {
            "type": "note",
            **common(note_id, product.created_at),
            "abstract": observations.abstract(observation),
            "content": observations.content(observation),
            "object_refs": [the_report, *located.values()],
            "extensions": {TISA_EXTENSION_ID: observations.note_part(observation, located)},
        }
        parts += [note, *locations]

    report: dict[str, Any] = {
        "type": "report",
        **common(the_report, first_created),
        "name": product.title,
    }
    if product.text:
        report["description"] = product.text
    report |= {
        "report_types": ["threat-report"],
        "published": timestamp(product.created_at),
        "labels": sorted(product.topics),
        # The originator's identity is always there, so a product without observations still
        # refers to something, as a report must.
        "object_refs": [creator, *(p["id"] for p in parts)],
        "extensions": {TISA_EXTENSION_ID: _product_part(product)},
    }
    return [report, *parts]


def _product_part(product: Product) -> dict[str, Any]:
    part: dict[str, Any] = {
        "extension_type": "property-extension",
        "kind": "product",
        "product_id": product.id,
        "version": product.version,
        "originator": product.originator,
        "precedence": product.precedence.value,
        "source_reliability": product.source_reliability.value,
        "information_credibility": product.information_credibility.value,
    }
    if product.attachments:
        part["attachments"] = [attachment_to_wire(a) for a in product.attachments]
    return part


def marking_objects(
    product: Product, arrangement: Arrangement, *, here: str
) -> list[dict[str, Any]]:
    """The marking-definition objects a version's objects refer to, in this order: ISA ACS 3.0,
    tisa's national schemes, the banner in `here`'s scheme as a statement. They never change;
    each id is named by its content.

    Raises:
        InputInvalid: the originator or `here` is not a party to the arrangement.
    """
    m = product.markings
    return [
        acs_marking(m, arrangement, here),
        tisa_marking(m, arrangement, here),
        statement_marking(m, arrangement, here),
    ]


def common_objects(arrangement: Arrangement) -> list[dict[str, Any]]:
    """Objects every export refers to: tisa's identity and extension definitions, then an
    `identity` per party (a government: class organization, sector government), in the
    arrangement's order. Raises nothing."""
    moment = timestamp(MAPPING_EPOCH)
    parties = [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": party_identity_id(arrangement, party.code),
            "created": moment,
            "modified": moment,
            "name": party.name,
            "identity_class": "organization",
            "sectors": ["government"],
            "extensions": {
                TISA_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "kind": "party",
                    "party": party.code,
                }
            },
        }
        for party in arrangement.parties.values()
    ]
    return [tisa_identity(), *extension_definitions(), *parties]


def bundle(
    product: Product,
    arrangement: Arrangement,
    *,
    here: str,
    first_created: datetime,
    recalled_at: datetime | None = None,
) -> dict[str, Any]:
    """A bundle of everything one version needs: its objects, their markings, the common
    objects. Its id is named by the digest of its objects, so the same export is the same
    bundle and a different one is not.

    Raises:
        InputInvalid: as `version_objects`.
    """
    objects = [
        *version_objects(
            product, arrangement, here=here, first_created=first_created, recalled_at=recalled_at
        ),
        *marking_objects(product, arrangement, here=here),
        *common_objects(arrangement),
    ]
    digest = sha256_digest(canonical({"objects": objects}))
    return {"type": "bundle", "id": stix_id("bundle", digest), "objects": objects}


def canonical(obj: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of a STIX object or bundle: repeated exports are the same bytes.

    Raises:
        InputInvalid: something JSON cannot carry canonically (never so for this module's
            own output).
    """
    return canonical_json(obj)
