"""Tests for tisa.stix.misp and the MISP convention: real MISP events, converted to STIX 2.1 by
misp-stix (MISPtoSTIX21Parser), come in as drafts with their figures."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from harness.factories import arrangement
from misp_stix_converter import MISPtoSTIX21Parser
from pymisp import MISPEvent, MISPGalaxy, MISPGalaxyCluster, MISPObject

from tisa.domain.wire import DraftIn, parse
from tisa.stix import misp
from tisa.stix.extensions import ACS_EXTENSION_ID
from tisa.stix.ingest import Refusal, drafts_of

EVENT_UUID = "5e2a5b1c-1d6b-4a7e-9c1f-0a1b2c3d4e5f"
MARKS = ('tisa:classification="SECRET"', 'tisa:rel-to="USA"', 'tisa:rel-to="KOR"')
LAUNCH_TAGS = (
    'tisa:topic="dprk.missile.launch"',
    'tisa:precedence="FLASH"',
    'admiralty-scale:source-reliability="b"',
    'admiralty-scale:information-credibility="2"',
    'tisa:observation="missile-launch"',
    'tisa:time="about 2024-01-14T14:55+09:00 ± 60"',
    'tisa:missile-class="IRBM"',
    'tisa:count="at least 1"',
    'tisa:apogee-km="more than 50"',
    'tisa:range-km="about 1000 ± 50"',
    'tisa:inside-eez="false"',
)


def _geolocation(point: str | None, lat: str, lon: str, radius_km: str, text: str) -> MISPObject:
    place = MISPObject("geolocation")
    latitude = place.add_attribute("latitude", value=lat)
    if point is not None:
        latitude.add_tag(f'tisa:point="{point}"')
    place.add_attribute("longitude", value=lon)
    place.add_attribute("accuracy-radius", value=radius_km)
    place.add_attribute("text", value=text)
    return place


def event(
    tags: Iterable[str] = (*MARKS, *LAUNCH_TAGS),
    *,
    published: bool = False,
    places: Iterable[MISPObject] = (),
    report: str | None = "One IRBM-class missile launched at about 14:55 KST.",
    galaxies: Iterable[MISPGalaxy] = (),
) -> MISPEvent:
    """A MISP event as an analyst at a MISP node writes a launch."""
    made = MISPEvent()
    made.uuid = EVENT_UUID
    made.info = "IRBM-class launch from the Pyongyang area"
    made.date = "2024-01-14"
    if published:
        made.published = True
        made.publish_timestamp = datetime(2024, 1, 14, 6, tzinfo=UTC)
    for tag in tags:
        made.add_tag(tag)
    for place in places:
        made.add_object(place)
    if report is not None:
        made.add_event_report("Launch report", report)
    for galaxy in galaxies:
        made.galaxies.append(galaxy)
    return made


def converted(made: MISPEvent) -> dict[str, Any]:
    """The event as misp-stix writes it in STIX 2.1, through JSON text."""
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event(json.loads(made.to_json()))
    loaded: dict[str, Any] = json.loads(parser.bundle.serialize())
    return loaded


def only(result: list[DraftIn | Refusal]) -> DraftIn | Refusal:
    assert len(result) == 1
    return result[0]


def expected(**changes: Any) -> DraftIn:
    fields: dict[str, Any] = {
        "title": "IRBM-class launch from the Pyongyang area",
        "text": "One IRBM-class missile launched at about 14:55 KST.",
        "classification": "SECRET",
        "rel_to": ["KOR", "USA"],
        "precedence": "FLASH",
        "topics": ["dprk.missile.launch"],
        "source_reliability": "B",
        "information_credibility": "2",
        "observations": [
            {
                "kind": "missile-launch",
                "time": {
                    "original": "2024-01-14T14:55+09:00",
                    "qualifier": "about",
                    "sigma_s": 60,
                },
                "missile_class": "IRBM",
                "count": {"value": 1, "qualifier": "at_least"},
                "apogee_km": {"value": 50, "qualifier": "more_than"},
                "range_km": {"value": 1000, "qualifier": "about", "sigma": 50},
                "inside_eez": False,
                "launch_position": {
                    "lat": 39.0,
                    "lon": 125.7,
                    "sigma_km": 10.0,
                    "description": "Pyongyang area",
                },
                "impact_position": {
                    "lat": 40.9,
                    "lon": 134.1,
                    "sigma_km": 25.0,
                    "description": "Sea of Japan",
                },
            }
        ],
    }
    return parse(DraftIn, fields | changes)


PLACES = (
    _geolocation("launch", "39.0", "125.7", "10", "Pyongyang area"),
    _geolocation("impact", "40.9", "134.1", "25", "Sea of Japan"),
)


@pytest.mark.parametrize("published", [False, True], ids=["grouping", "report"])
def test_a_misp_launch_event_is_a_draft_with_its_figures(published: bool) -> None:
    stix = converted(event(published=published, places=PLACES))
    assert {o["type"] for o in stix["objects"]} >= {"location", "note"}
    assert only(drafts_of(stix, arrangement())) == expected()


def test_places_without_a_point_tag_are_left_out() -> None:
    loose = _geolocation(None, "38.0", "127.0", "5", "somewhere")
    draft = only(drafts_of(converted(event(places=(*PLACES, loose))), arrangement()))
    assert draft == expected()


def test_a_national_term_names_the_level() -> None:
    tags = ('tisa:classification="極秘"', 'tisa:rel-to="USA"', 'tisa:rel-to="KOR"', *LAUNCH_TAGS)
    draft = only(drafts_of(converted(event(tags, places=PLACES)), arrangement()))
    assert draft == expected()


def test_the_misp_acs_taxonomy_names_the_level() -> None:
    tags = ('acs-marking:classification="S"', *MARKS[1:], *LAUNCH_TAGS)
    draft = only(drafts_of(converted(event(tags, places=PLACES)), arrangement()))
    assert draft == expected()


def test_an_acs_marking_galaxy_comes_back_as_acs_markings() -> None:
    # What misp-stix makes of an ACS marking it imports; exported, it is an ACS marking again.
    galaxy = MISPGalaxy()
    galaxy.from_dict(
        uuid=ACS_EXTENSION_ID.removeprefix("extension-definition--"),
        type="stix-2.1-acs-marking",
        name="STIX 2.1 ACS Marking",
        namespace="stix",
        description="ACS markings",
        version="21",
    )
    cluster = MISPGalaxyCluster()
    cluster.from_dict(
        uuid="9c8a4c0e-2b1f-4c5a-8e3d-7f6a5b4c3d2e",
        value="S//ORCON/REL TO USA, KOR",
        type="stix-2.1-acs-marking",
        description="",
        meta={
            "identifier": ["isa:kor.ACS3-1"],
            "create_date_time": ["2024-01-14T06:00:00Z"],
            "responsible_entity_custodian": ["KOR.GOV"],
            "policy_reference": ["urn:isa:policy:acs:ns:v3.0?privdefault=permit&sharedefault=deny"],
            "control_set.classification": ["S"],
            "control_set.permitted_nationalities": ["USA", "KOR"],
            "created": ["2024-01-14T06:00:00.000Z"],
        },
    )
    galaxy.clusters.append(cluster)
    stix = converted(event(LAUNCH_TAGS, places=PLACES, galaxies=(galaxy,)))
    assert any(ACS_EXTENSION_ID in o.get("extensions", {}) for o in stix["objects"])
    assert only(drafts_of(stix, arrangement())) == expected(orcon=True)


def test_tlp_is_no_classification() -> None:
    stix = converted(event(("tlp:amber", *MARKS[1:], *LAUNCH_TAGS), places=PLACES))
    refusal = only(drafts_of(stix, arrangement()))
    assert isinstance(refusal, Refusal)
    assert refusal.object_id == f"grouping--{EVENT_UUID}"
    assert "no classification marking" in refusal.reason


def test_no_rel_to_is_refused() -> None:
    refusal = only(drafts_of(converted(event((MARKS[0], *LAUNCH_TAGS))), arrangement()))
    assert isinstance(refusal, Refusal)
    assert "no REL TO" in refusal.reason


def test_an_event_without_observation_tags_is_a_draft_of_words() -> None:
    tags = (*MARKS, 'tisa:topic="dprk.missile.launch"')
    draft = only(drafts_of(converted(event(tags, places=PLACES)), arrangement()))
    assert draft == expected(
        observations=[],
        precedence="ROUTINE",
        source_reliability="F",
        information_credibility="6",
    )


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ('tisa:apogee-km="high"', "'high' is not a number"),
        ('tisa:time="2024-01-14T14:55"', "not an ISO 8601 time with its zone"),
        ('tisa:lofted="yes"', "neither true nor false"),
        ('tisa:missile-class="Hwasong-18"', "not a missile class"),
        ('tisa:count="about nan"', "not a finite number"),
        ('tisa:range-km="about 900"', "two different values for range_km"),
    ],
)
def test_unreadable_figures_are_refused(tag: str, why: str) -> None:
    stix = converted(event((*MARKS, *LAUNCH_TAGS, tag), places=PLACES))
    refusal = only(drafts_of(stix, arrangement()))
    assert isinstance(refusal, Refusal)
    assert refusal.reason.startswith("unreadable figures")
    assert why in refusal.reason


def test_a_point_that_is_no_place_of_the_observation_is_refused() -> None:
    wrong = _geolocation("test-site", "41.3", "129.1", "5", "Punggye-ri")
    refusal = only(drafts_of(converted(event(places=(wrong,))), arrangement()))
    assert isinstance(refusal, Refusal)
    assert "no place of a missile-launch" in refusal.reason


def test_figures_that_break_a_domain_rule_are_refused() -> None:
    stix = converted(event((*MARKS, *LAUNCH_TAGS[:-1], 'tisa:flight-time-min="-3"')))
    refusal = only(drafts_of(stix, arrangement()))
    assert isinstance(refusal, Refusal)
    assert "must not be negative" in refusal.reason


# --- the tag grammar --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("1000", {"value": 1000.0, "qualifier": "about"}),
        ("exact 3", {"value": 3.0, "qualifier": "exact"}),
        ("at least 1", {"value": 1.0, "qualifier": "at_least"}),
        ("at_least 1", {"value": 1.0, "qualifier": "at_least"}),
        ("less than 2.5 +/- 0.5", {"value": 2.5, "qualifier": "less_than", "sigma": 0.5}),
        ("up to 160±20", {"value": 160.0, "qualifier": "up_to", "sigma": 20.0}),
    ],
)
def test_hedged_figures(text: str, wire: dict[str, Any]) -> None:
    assert misp.estimate(text, "t") == wire


def test_hedged_times_keep_their_wording() -> None:
    assert misp.instant("more than 2023-12-18T08:24+09:00 ± 30 s", "t") == {
        "original": "2023-12-18T08:24+09:00",
        "qualifier": "more_than",
        "sigma_s": 30.0,
    }


def test_tags_of_one_namespace() -> None:
    labels = ["tisa:orcon", 'tisa:rel-to="KOR"', 'misp:tool="x"', "dprk.missile.launch", 7]
    assert misp.tags(labels, "tisa") == [("orcon", None), ("rel-to", "KOR")]
