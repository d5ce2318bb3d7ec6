"""Tests for tisa.stix.export: a product version as STIX 2.1 objects, valid for the OASIS tools,
versioned as STIX asks, and the same bytes every time."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import stix2
from harness.factories import (
    PRODUCT_ID,
    T0,
    arrangement,
    launch,
    nuclear_test,
    product,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2.confidence.scales import admiralty_credibility_to_value
from stix_checks import (
    EXAMPLE_FIRST_CREATED,
    earlier,
    example_product,
    exportable,
    extension_errors,
    findings,
    heres,
)

from tisa.domain.markings import InformationCredibility
from tisa.domain.model import Attachment, AttachmentKind, Position, Product
from tisa.errors import InputInvalid
from tisa.stix.export import (
    bundle,
    canonical,
    common_objects,
    marking_objects,
    report_id,
    version_objects,
)
from tisa.stix.extensions import TISA_EXTENSION_ID
from tisa.stix.ids import stix_id, timestamp
from tisa.stix.markings import party_identity_id

DOCS = Path(__file__).resolve().parents[2] / "docs" / "stix.md"
LATER = T0 + timedelta(hours=2)


def _objects(p: Product, here: str = "JPN", **times: Any) -> list[dict[str, Any]]:
    return version_objects(
        p, arrangement(), here=here, first_created=times.pop("first", T0), **times
    )


def _by_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


def _tisa(obj: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = obj["extensions"][TISA_EXTENSION_ID]
    return part


def test_the_report_comes_first_and_says_the_product() -> None:
    p = product(topics={"dprk.missile.launch", "dprk.missile.development"})
    report, *_ = _objects(p)
    assert report["type"] == "report"
    assert report["id"] == report_id(PRODUCT_ID) == stix_id("report", PRODUCT_ID)
    assert report["name"] == p.title
    assert report["description"] == p.text
    assert report["published"] == timestamp(p.created_at)
    assert report["labels"] == ["dprk.missile.development", "dprk.missile.launch"]
    assert report["report_types"] == ["threat-report"]
    assert _tisa(report) == {
        "extension_type": "property-extension",
        "kind": "product",
        "product_id": PRODUCT_ID,
        "version": 1,
        "originator": "KOR",
        "precedence": "FLASH",
        "source_reliability": "B",
        "information_credibility": "2",
    }


def test_the_report_refers_to_the_originator_and_every_object_of_the_version() -> None:
    objects = _objects(product(observations=(launch(), nuclear_test())))
    report, rest = objects[0], objects[1:]
    kor = party_identity_id(arrangement(), "KOR")
    assert report["object_refs"] == [kor, *(o["id"] for o in rest)]
    # A report must refer to something: without observations, the originator is left.
    bare = _objects(product(observations=(), text=""))
    assert bare[0]["object_refs"] == [kor]
    assert "description" not in bare[0]
    assert findings(bare[0]) == []


def test_every_object_carries_the_markings_and_the_originator() -> None:
    p = product(originator="JPN", rel_to={"USA", "JPN"}, observations=(launch(),))
    markings = [m["id"] for m in marking_objects(p, arrangement(), here="USA")]
    for obj in _objects(p, here="USA"):
        assert obj["object_marking_refs"] == markings
        assert obj["created_by_ref"] == party_identity_id(arrangement(), "JPN")
    identities = {o["id"]: o for o in common_objects(arrangement()) if o["type"] == "identity"}
    japan = identities[party_identity_id(arrangement(), "JPN")]
    assert japan["name"] == "Japan"
    assert japan["identity_class"] == "organization"
    assert japan["sectors"] == ["government"]
    assert _tisa(japan) == {"extension_type": "property-extension", "kind": "party", "party": "JPN"}


def test_a_party_identity_for_every_party_of_the_arrangement() -> None:
    parties = [
        o
        for o in common_objects(arrangement())
        if "party" in o.get("extensions", {}).get(TISA_EXTENSION_ID, {})
    ]
    assert [_tisa(o)["party"] for o in parties] == ["USA", "KOR", "JPN"]


def test_the_report_keeps_its_id_across_versions_and_its_first_created() -> None:
    v1 = product(observations=(launch(),))
    v2 = product(version=2, created_at=LATER, observations=(launch(), nuclear_test()))
    one, two = _objects(v1, first=v1.created_at), _objects(v2, first=v1.created_at)
    assert one[0]["id"] == two[0]["id"]
    assert one[0]["created"] == two[0]["created"] == timestamp(v1.created_at)
    assert (one[0]["modified"], two[0]["modified"]) == (timestamp(v1.created_at), timestamp(LATER))
    # An observation belongs to its version: tisa cannot tell v2's first launch is v1's revised.
    assert {o["id"] for o in one[1:]}.isdisjoint(o["id"] for o in two[1:])
    assert all(o["created"] == o["modified"] == timestamp(LATER) for o in two[1:])


def test_a_recall_is_a_revoked_version_of_every_object() -> None:
    p = product(observations=(launch(),))
    held, recalled = _objects(p), _objects(p, recalled_at=LATER)
    assert [o["id"] for o in held] == [o["id"] for o in recalled]
    for before, after in zip(held, recalled, strict=True):
        assert after["revoked"] is True
        assert after["modified"] == timestamp(LATER)
        assert after["created"] == before["created"]
        assert "revoked" not in before
        assert {**after, "revoked": None, "modified": None} == {
            **before,
            "revoked": None,
            "modified": None,
        }
        assert findings(after) == []


def test_times_must_run_forwards() -> None:
    p = product()
    with pytest.raises(InputInvalid, match="first_created"):
        _objects(p, first=p.created_at + timedelta(seconds=1))
    with pytest.raises(InputInvalid, match="recalled_at"):
        _objects(p, recalled_at=p.created_at - timedelta(seconds=1))


@pytest.mark.parametrize(("originator", "here"), [("KOR", "CHN"), ("GBR", "USA")])
def test_a_party_outside_the_arrangement_has_no_terms(originator: str, here: str) -> None:
    p = product(originator=originator, rel_to={originator, "USA"})
    with pytest.raises(InputInvalid, match="not a party"):
        bundle(p, arrangement(), here=here, first_created=T0)


@pytest.mark.parametrize("grade", list(InformationCredibility))
def test_confidence_is_stixs_admiralty_scale(grade: InformationCredibility) -> None:
    report = _objects(product(information_credibility=grade))[0]
    words = {
        "1": "1 - Confirmed by other sources",
        "2": "2 - Probably True",
        "3": "3 - Possibly True",
        "4": "4 - Doubtful",
        "5": "5 - Improbable",
    }
    if grade is InformationCredibility.CANNOT_BE_JUDGED:
        assert "confidence" not in report
    else:
        assert report["confidence"] == admiralty_credibility_to_value(words[grade.value])


def test_a_launch_is_a_note_and_a_location_per_point() -> None:
    shot = launch(impact_position=Position(41.5, 136.0, None, ""))
    _, note, launched, impact = _objects(product(observations=(shot,)))
    assert (note["type"], launched["type"], impact["type"]) == ("note", "location", "location")
    assert note["abstract"] == "Missile launch (IRBM), 2024-01-14T14:55+09:00"
    assert note["content"] == (
        "Missile launch (IRBM) at about 2024-01-14T14:55+09:00 from Pyongyang area "
        "(39, 125.7 ± 10 km); count at least 1; apogee more than 50 km; range about 1000 ± 50 km; "
        "impact (41.5, 136); outside the EEZ."
    )
    assert note["object_refs"] == [report_id(PRODUCT_ID), launched["id"], impact["id"]]
    part = _tisa(note)
    assert part["kind"] == "missile-launch"
    assert part["time"] == {"original": "2024-01-14T14:55+09:00", "qualifier": "about"}
    assert part["count"] == {"value": 1, "qualifier": "at_least"}
    assert (part["launch_point_ref"], part["impact_point_ref"]) == (launched["id"], impact["id"])
    assert "launch_position" not in part
    assert launched["name"] == "Pyongyang area"
    assert (launched["latitude"], launched["longitude"], launched["precision"]) == (
        39.0,
        125.7,
        1e4,
    )
    assert _tisa(launched) == {
        "extension_type": "property-extension",
        "kind": "launch-point",
        "sigma_km": 10.0,
    }
    # No description, no uncertainty: nothing is made up for them.
    assert "name" not in impact
    assert "precision" not in impact


def test_a_nuclear_test_is_a_note_and_its_site() -> None:
    _, note, site = _objects(product(topics={"dprk.nuclear.test"}, observations=(nuclear_test(),)))
    assert _tisa(note)["test_site_ref"] == site["id"]
    assert _tisa(note)["yield_kt"] == {"value": 160, "qualifier": "about"}
    assert _tisa(site)["kind"] == "test-site"
    assert note["content"] == (
        "Nuclear test at about 2017-09-03T12:29:57+09:00 at Punggye-ri (41.3, 129.1 ± 5 km); "
        "magnitude about 6.3 ± 0.1; yield about 160 kt."
    )


def test_attachments_are_named_in_the_extension() -> None:
    photo = Attachment("sha256:" + "ab" * 32, 2048, "image/jpeg", AttachmentKind.PHOTO, "p.jpg")
    report = _objects(product(attachments=(photo,)))[0]
    assert _tisa(report)["attachments"] == [
        {
            "digest": photo.digest,
            "size": 2048,
            "media_type": "image/jpeg",
            "kind": "photo",
            "name": "p.jpg",
        }
    ]
    assert extension_errors(report) == []


def test_nothing_is_attributed_that_the_product_does_not_say() -> None:
    b = bundle(
        product(observations=(launch(), nuclear_test())),
        arrangement(),
        here="USA",
        first_created=T0,
    )
    kinds = {o["type"] for o in b["objects"]}
    assert kinds == {
        "report",
        "note",
        "location",
        "marking-definition",
        "identity",
        "extension-definition",
    }


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), exportable(), heres(), st.booleans())
def test_every_export_passes_the_strict_validator_and_loads(
    data: st.DataObject, p: Product, here: str, recalled: bool
) -> None:
    first = data.draw(earlier(p.created_at))
    recalled_at = p.created_at + timedelta(days=1) if recalled else None
    b = bundle(p, arrangement(), here=here, first_created=first, recalled_at=recalled_at)
    assert findings(b) == []
    loaded = stix2.parse(json.loads(canonical(b)), allow_custom=False)
    assert len(loaded.objects) == len(b["objects"])
    for obj in b["objects"]:
        assert extension_errors(obj) == []


@given(exportable(), heres())
def test_the_same_product_is_the_same_bytes(p: Product, here: str) -> None:
    again = dataclasses.replace(
        p, created_at=p.created_at.astimezone(timezone(timedelta(hours=-10)))
    )
    one = canonical(bundle(p, arrangement(), here=here, first_created=p.created_at))
    two = canonical(bundle(again, arrangement(), here=here, first_created=again.created_at))
    assert one == two


def test_a_different_export_is_a_different_bundle() -> None:
    p = product()
    ids = {bundle(p, arrangement(), here=here, first_created=T0)["id"] for here in ("USA", "JPN")}
    ids.add(bundle(p, arrangement(), here="USA", first_created=T0, recalled_at=LATER)["id"])
    assert len(ids) == 3


def test_holders_differ_only_in_markings() -> None:
    p = product(observations=(launch(),))
    at_usa, at_jpn = _objects(p, here="USA"), _objects(p, here="JPN")
    for a, b in zip(at_usa, at_jpn, strict=True):
        assert a["object_marking_refs"] != b["object_marking_refs"]
        assert {**a, "object_marking_refs": None} == {**b, "object_marking_refs": None}


def _elided(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bundle as docs/stix.md prints it: each embedded schema named, not printed."""
    return [
        {**o, "schema": f"<schemas/{o['name']}.json, as compact JSON>"}
        if o["type"] == "extension-definition"
        else o
        for o in objects
    ]


def test_the_worked_example_in_the_docs_is_what_tisa_exports() -> None:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- example-bundle -->\s*```json\n(.*?)\n```", text, re.S)
    assert block is not None, "docs/stix.md lost its example bundle"
    printed = json.loads(block.group(1))
    made = bundle(example_product(), arrangement(), here="USA", first_created=EXAMPLE_FIRST_CREATED)
    assert printed == {**made, "objects": _elided(made["objects"])}


def test_a_figure_keeps_its_reported_unit_in_the_extension_and_the_words() -> None:
    from tisa.domain.model import Estimate, Qualifier, Unit

    p = product(observations=(launch(range_km=Estimate(216, Qualifier.ABOUT, 10, Unit.NMI)),))
    b = bundle(p, arrangement(), here="USA", first_created=T0)
    assert findings(b) == []
    for obj in b["objects"]:
        assert extension_errors(obj) == []
    (note,) = [o for o in b["objects"] if o["type"] == "note"]
    assert note["extensions"][TISA_EXTENSION_ID]["range_km"]["unit"] == "nmi"
    assert "216 ± 10 nmi" in note["content"]
