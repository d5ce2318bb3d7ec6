"""Tests for tisa.stix.ingest: STIX bundles as drafts, or refusals naming why."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
import stix2
from harness.factories import T0, arrangement, launch, nuclear_test, product
from hypothesis import HealthCheck, given, settings
from stix_checks import exportable, heres

from tisa.domain.model import Product
from tisa.domain.wire import DraftIn, draft_to_wire, parse
from tisa.errors import InputInvalid
from tisa.stix.export import bundle, canonical
from tisa.stix.extensions import ACS_EXTENSION_ID, TISA_EXTENSION_ID
from tisa.stix.ingest import Refusal, drafts_of

LATER = T0 + timedelta(hours=1)


def received(p: Product, here: str = "USA", **times: Any) -> dict[str, Any]:
    """`p` exported at `here`, as the other side reads it: canonical bytes, parsed."""
    made = bundle(
        p, arrangement(), here=here, first_created=times.pop("first", p.created_at), **times
    )
    loaded: dict[str, Any] = json.loads(canonical(made))
    return loaded


def draft_of(p: Product) -> DraftIn:
    """What the product's author wrote, as a draft (attachments stay at their node)."""
    return parse(DraftIn, {**draft_to_wire(p), "attachments": []})


def only(result: list[DraftIn | Refusal]) -> DraftIn | Refusal:
    assert len(result) == 1
    return result[0]


def refusal_of(stix: dict[str, Any]) -> Refusal:
    result = only(drafts_of(stix, arrangement()))
    assert isinstance(result, Refusal), result
    return result


def _objects(stix: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in stix["objects"] if o["type"] == kind]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(exportable(in_scope=True), heres())
def test_export_then_ingest_gives_back_the_draft(p: Product, here: str) -> None:
    assert drafts_of(received(p, here), arrangement()) == [draft_of(p)]


def test_the_latest_version_in_a_bundle_is_read() -> None:
    v1 = received(product(title="First words"), first=T0)
    v2 = received(product(version=2, created_at=LATER, title="Second words"), first=T0)
    both = {"type": "bundle", "id": v1["id"], "objects": v2["objects"] + v1["objects"]}
    draft = only(drafts_of(both, arrangement()))
    assert isinstance(draft, DraftIn)
    assert draft.title == "Second words"


def test_a_recalled_version_is_refused() -> None:
    refusal = refusal_of(received(product(), recalled_at=LATER))
    assert refusal.reason == "revoked: its producer withdrew it"


def test_each_report_of_a_bundle_is_one_answer() -> None:
    kor = received(product())
    other = received(product(id="7c3d9e21-5a4b-4f6c-8e1d-2b9a0c7f3e54", topics={"prc.x"}))
    mixed = {**kor, "objects": kor["objects"] + other["objects"]}
    first, second = drafts_of(mixed, arrangement())
    assert first == draft_of(product())
    assert isinstance(second, Refusal)
    assert second.object_id == other["objects"][0]["id"]


def test_without_markings_a_report_is_refused() -> None:
    stix = received(product())
    for obj in stix["objects"]:
        obj.pop("object_marking_refs", None)
    refusal = refusal_of(stix)
    assert refusal.reason.startswith("no classification marking")
    assert refusal.object_id == stix["objects"][0]["id"]


def test_the_statement_alone_is_never_read_as_a_level() -> None:
    stix = received(product())
    report = stix["objects"][0]
    report["object_marking_refs"] = report["object_marking_refs"][2:]  # the banner only
    assert refusal_of(stix).reason.startswith("no classification marking")


def test_markings_that_disagree_are_refused() -> None:
    stix = received(product())
    acs = next(o for o in stix["objects"] if ACS_EXTENSION_ID in o.get("extensions", {}))
    acs["extensions"][ACS_EXTENSION_ID]["control_set"]["classification"] = "C"
    reason = refusal_of(stix).reason
    assert reason.startswith("the markings disagree on the classification")
    assert "CONFIDENTIAL" in reason
    assert "SECRET" in reason


def test_rel_to_that_disagrees_is_refused() -> None:
    stix = received(product())
    acs = next(o for o in stix["objects"] if ACS_EXTENSION_ID in o.get("extensions", {}))
    acs["extensions"][ACS_EXTENSION_ID]["control_set"]["permitted_nationalities"] = ["USA"]
    assert refusal_of(stix).reason.startswith("the markings disagree on REL TO")


def test_an_unclassified_marking_is_refused_as_unreadable() -> None:
    stix = received(product())
    for acs in (o for o in stix["objects"] if ACS_EXTENSION_ID in o.get("extensions", {})):
        acs["extensions"][ACS_EXTENSION_ID]["control_set"]["classification"] = "U"
    assert refusal_of(stix).reason.startswith("unreadable marking")


def test_a_report_out_of_scope_is_refused() -> None:
    reason = refusal_of(received(product(topics={"prc.missile.launch"}))).reason
    assert reason == "no topic in the arrangement's scope (topics named: prc.missile.launch)"


def test_topics_out_of_scope_beside_one_in_scope_are_kept_for_the_services_to_judge() -> None:
    p = product(topics={"dprk.missile.launch", "prc.missile.launch"})
    draft = only(drafts_of(received(p), arrangement()))
    assert isinstance(draft, DraftIn)
    assert draft.topics == ["dprk.missile.launch", "prc.missile.launch"]


def test_a_note_pointing_at_a_missing_location_is_refused() -> None:
    stix = received(product(observations=(launch(),)))
    stix["objects"] = [o for o in stix["objects"] if o["type"] != "location"]
    assert "which is no location in the bundle" in refusal_of(stix).reason


def test_figures_that_break_a_domain_rule_are_refused() -> None:
    stix = received(product(topics={"dprk.nuclear.test"}, observations=(nuclear_test(),)))
    note = _objects(stix, "note")[0]
    note["extensions"][TISA_EXTENSION_ID]["yield_kt"]["value"] = -1
    assert "must not be negative" in refusal_of(stix).reason


def test_a_figure_of_the_wrong_type_is_refused_by_field() -> None:
    stix = received(product(observations=(launch(),)))
    _objects(stix, "note")[0]["extensions"][TISA_EXTENSION_ID]["lofted"] = "yes"
    assert refusal_of(stix).reason.startswith("observations.0.missile-launch.lofted")


def test_a_report_without_a_name_is_refused() -> None:
    stix = received(product())
    del stix["objects"][0]["name"]
    assert refusal_of(stix).reason == "no name, which a draft needs as its title"


def test_a_bundle_without_reports_has_no_drafts() -> None:
    assert drafts_of({"type": "bundle", "id": "bundle--x"}, arrangement()) == []
    only_places = received(product(observations=(launch(),)))
    only_places["objects"] = _objects(only_places, "location")
    assert drafts_of(only_places, arrangement()) == []


@pytest.mark.parametrize(
    ("stix", "why"),
    [
        ([], "not a STIX bundle"),
        ({"type": "report", "id": "report--x"}, "not a STIX bundle"),
        ({"type": "bundle", "id": "bundle--x", "spec_version": "2.0"}, "STIX 2.0 bundle"),
        ({"type": "bundle", "id": "bundle--x", "objects": {}}, "'objects' is not a list"),
        ({"type": "bundle", "id": "bundle--x", "objects": [3]}, "not a JSON object"),
        ({"type": "bundle", "id": "b", "objects": [{"type": "report"}]}, "no type or no id"),
        (
            {"type": "bundle", "id": "b", "objects": [{"type": "report", "id": "note--1"}]},
            "is not of its type",
        ),
        (
            {
                "type": "bundle",
                "id": "b",
                "objects": [{"type": "report", "id": "report--1", "spec_version": "2.0"}],
            },
            "is STIX '2.0', not 2.1",
        ),
    ],
)
def test_what_is_no_stix_21_bundle_is_invalid_input(stix: Any, why: str) -> None:
    with pytest.raises(InputInvalid, match=why):
        drafts_of(stix, arrangement())


def test_a_report_made_by_another_tool_with_acs_markings_is_a_draft() -> None:
    # A third party's report: the OASIS library's objects, an ACS marking of its own making,
    # no tisa extension: title, text, marking and topic are enough for a draft.
    acs = stix2.MarkingDefinition(
        name="S//REL TO USA, JPN",
        extensions={
            ACS_EXTENSION_ID: {
                "extension_type": "property-extension",
                "identifier": "isa:example.ACS3-1",
                "create_date_time": "2024-01-14T06:00:00Z",
                "responsible_entity_custodian": "USA.DOD",
                "policy_reference": (
                    "urn:isa:policy:acs:ns:v3.0?privdefault=permit&sharedefault=permit"
                ),
                "control_set": {"classification": "S", "permitted_nationalities": ["USA", "JPN"]},
            }
        },
    )
    site = stix2.Location(latitude=41.3, longitude=129.1, precision=5000.0, name="Punggye-ri")
    report = stix2.Report(
        name="Seismic event at Punggye-ri",
        description="M6.1 at about 12:31 local time.",
        published="2017-09-03T04:00:00Z",
        labels=["dprk.nuclear.test"],
        object_refs=[site.id],
        object_marking_refs=[acs.id],
    )
    stix = json.loads(stix2.Bundle(report, site, acs).serialize())
    assert only(drafts_of(stix, arrangement())) == parse(
        DraftIn,
        {
            "title": "Seismic event at Punggye-ri",
            "text": "M6.1 at about 12:31 local time.",
            "classification": "SECRET",
            "rel_to": ["JPN", "USA"],
            "topics": ["dprk.nuclear.test"],
        },
    )


def test_ingest_does_not_change_the_bundle() -> None:
    stix = received(product(observations=(launch(), nuclear_test())))
    before = copy.deepcopy(stix)
    drafts_of(stix, arrangement())
    assert stix == before
