"""Tests for tisa.domain.wire: JSON forms in and out, round trips, and bad input named by field."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from harness.factories import (
    CONSENT_ID,
    PRODUCT_ID,
    T0,
    arrangement,
    consent,
    consents,
    identity_of,
    nuclear_test,
    product,
    products,
)
from hypothesis import HealthCheck, given, settings

from tisa.domain.consent import Consent, ConsentKind, StreamMode
from tisa.domain.markings import Classification, Precedence
from tisa.domain.model import Product
from tisa.domain.wire import (
    ConsentIn,
    ConsentToken,
    DraftIn,
    ManifestIn,
    consent_to_wire,
    draft_to_wire,
    iso,
    manifest_to_wire,
    observation_to_wire,
    parse,
    to_product,
)
from tisa.errors import InputInvalid, MarkingInvalid

DIGEST = arrangement().digest


def _json(data: Any) -> Any:
    """What the other side reads: the data through real JSON text."""
    return json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))


def _manifest(**changes: Any) -> dict[str, Any]:
    data = _json(manifest_to_wire(product(), DIGEST))
    data.update(changes)
    return data


# --- round trips ---------------------------------------------------------------------------------


def test_manifest_wire_form() -> None:
    data = manifest_to_wire(product(), DIGEST)
    assert data["type"] == "product"
    assert data["arrangement"] == DIGEST
    assert data["id"] == PRODUCT_ID
    assert data["originator"] == "KOR"
    assert data["created_at"] == "2024-01-14T06:00:00Z"
    assert data["classification"] == "SECRET"
    assert data["rel_to"] == ["JPN", "KOR", "USA"]
    assert data["precedence"] == "FLASH"
    assert data["topics"] == ["dprk.missile.launch"]
    assert data["observations"][0]["kind"] == "missile-launch"
    assert data["observations"][0]["time"] == {
        "original": "2024-01-14T14:55+09:00",
        "qualifier": "about",
    }
    assert "impact_time" not in data["observations"][0]


def test_manifest_round_trip() -> None:
    p = product()
    assert parse(ManifestIn, _json(manifest_to_wire(p, DIGEST))).product() == p


def test_manifest_round_trip_with_a_nuclear_test_and_top_secret_orcon() -> None:
    p = product(
        classification=Classification.TOP_SECRET,
        orcon=True,
        rel_to={"USA", "KOR"},
        precedence=Precedence.ROUTINE,
        topics={"dprk.nuclear.test", "dprk.nuclear.site-activity"},
        observations=(nuclear_test(),),
    )
    manifest = parse(ManifestIn, _json(manifest_to_wire(p, DIGEST)))
    assert manifest.arrangement == DIGEST
    assert manifest.product() == p


def test_draft_round_trip() -> None:
    p = product()
    draft = parse(DraftIn, _json(draft_to_wire(p)))
    assert draft.to_domain(**identity_of(p)) == p
    assert to_product(draft, **identity_of(p)) == p


def test_draft_defaults() -> None:
    draft = parse(
        DraftIn,
        {"title": "t", "classification": "SECRET", "rel_to": ["KOR"], "topics": ["dprk.a"]},
    )
    assert draft.precedence is Precedence.ROUTINE
    assert draft.text == ""
    assert draft.observations == []
    p = draft.to_domain(**identity_of(product()))
    assert p.classification is Classification.SECRET
    assert p.source_reliability.value == "F"
    assert p.information_credibility.value == "6"


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(products(with_observations=True))
def test_manifest_round_trip_property(p: Product) -> None:
    data = _json(manifest_to_wire(p, DIGEST))
    assert parse(ManifestIn, data).product() == p
    # the wire form is a fixed point: the same product gives the same JSON
    assert _json(manifest_to_wire(parse(ManifestIn, data).product(), DIGEST)) == data


def test_observation_wire_drops_absent_fields() -> None:
    assert set(observation_to_wire(nuclear_test(position=None, yield_kt=None))) == {
        "kind",
        "time",
        "magnitude",
    }


def test_iso_is_utc_with_z() -> None:
    assert iso(datetime(2024, 1, 14, 14, 55, tzinfo=timezone(timedelta(hours=9)))) == (
        "2024-01-14T05:55:00Z"
    )
    assert iso(T0) == "2024-01-14T05:55:00Z"


# --- bad input is named by field -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"title": 5}, "title: "),
        ({"title": ""}, "title: "),
        ({"rel_to": "USA"}, "rel_to: "),
        ({"rel_to": []}, "rel_to: "),
        ({"rel_to": [1]}, "rel_to.0: "),
        ({"topics": []}, "topics: "),
        ({"version": "one"}, "version: "),
        ({"version": 0}, "version: "),
        ({"orcon": "maybe"}, "orcon: "),
        ({"precedence": "BLITZ"}, "precedence: "),
        ({"source_reliability": "G"}, "source_reliability: "),
        ({"id": "short"}, "id: "),
        ({"originator": "KOREA"}, "originator: "),
        ({"type": "consent"}, "type: "),
        ({"created_at": "yesterday"}, "created_at: "),
        ({"observations": {}}, "observations: "),
        ({"observations": [{"kind": "flyover"}]}, "observations.0: "),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_manifest_names_the_field(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        parse(ManifestIn, _manifest(**changes))
    assert caught.value.reason.startswith(where), caught.value.reason


def test_missing_field_is_named() -> None:
    data = _manifest()
    del data["created_at"]
    with pytest.raises(InputInvalid, match=r"^created_at: Field required"):
        parse(ManifestIn, data)


def test_not_an_object_is_named_body() -> None:
    with pytest.raises(InputInvalid, match=r"^body: "):
        parse(ManifestIn, [1, 2])


def _observation(**changes: Any) -> dict[str, Any]:
    return _manifest(observations=[_manifest()["observations"][0] | changes])


def test_unknown_field_inside_an_observation_is_named_with_its_path() -> None:
    with pytest.raises(InputInvalid) as caught:
        parse(ManifestIn, _observation(speed_mach=22))
    assert caught.value.reason.startswith("observations.0.missile-launch.speed_mach: ")


def test_bad_qualifier_is_named_with_its_path() -> None:
    with pytest.raises(InputInvalid) as caught:
        parse(ManifestIn, _observation(apogee_km={"value": 6000, "qualifier": "roughly"}))
    assert caught.value.reason.startswith("observations.0.missile-launch.apogee_km.qualifier: ")


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"orcon": 0}, "orcon: "),
        ({"orcon": "true"}, "orcon: "),
        ({"observations": [{"lofted": 1}]}, "observations.0.missile-launch.lofted: "),
        ({"observations": [{"apogee_km": {"value": "6000"}}]}, ".apogee_km.value: "),
        ({"observations": [{"apogee_km": {"value": True}}]}, ".apogee_km.value: "),
        ({"observations": [{"launch_position": {"lat": "39", "lon": 125}}]}, ".lat: "),
    ],
    ids=["orcon-0", "orcon-text", "lofted-1", "value-text", "value-true", "lat-text"],
)
def test_a_boolean_or_number_must_be_one_in_json(changes: dict[str, Any], where: str) -> None:
    # What the OpenAPI document promises: a JSON boolean or number, not something lax
    # validation would convert to one.
    data = _manifest(**changes)
    if "observations" in changes:
        data = _observation(**changes["observations"][0])
    with pytest.raises(InputInvalid) as caught:
        parse(ManifestIn, data)
    assert where in caught.value.reason, caught.value.reason


def test_an_integer_is_a_number() -> None:
    parse(
        ManifestIn, _observation(apogee_km={"value": 6000}, launch_position={"lat": 39, "lon": 125})
    )


def test_negative_apogee_is_refused_naming_the_figure() -> None:
    manifest = parse(ManifestIn, _observation(apogee_km={"value": -5}))
    with pytest.raises(InputInvalid, match=r"apogee_km -5\.0 must not be negative"):
        manifest.product()


@pytest.mark.parametrize(
    "original", ["2024-01-14T14:55", "2024-01-14", "2024-01-14 14:55:00"], ids=str
)
def test_observation_time_without_zone_is_refused(original: str) -> None:
    with pytest.raises(InputInvalid, match="has no time zone") as caught:
        parse(ManifestIn, _observation(time={"original": original}))
    assert repr(original) in caught.value.reason
    assert "time.original" in caught.value.reason


def test_observation_time_that_is_not_iso_is_refused() -> None:
    with pytest.raises(InputInvalid, match="is not ISO 8601"):
        parse(ManifestIn, _observation(time={"original": "fourteen fifty-five KST"}))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"topics": ["DPRK.Missile"]}, "topic 'DPRK.Missile' must be dotted lowercase words"),
        ({"topics": ["dprk missile"]}, "topic 'dprk missile'"),
        ({"classification": "SECRETISH"}, "unknown classification 'SECRETISH'"),
        ({"rel_to": ["USA", "JPN"]}, "REL TO must name the originator KOR"),
        ({"rel_to": ["USA", "KOR", "jpn"]}, "'jpn' is not a country trigraph"),
        ({"originator": "kor", "rel_to": ["kor"]}, "'kor' is not a country trigraph"),
        ({"title": "   "}, "title is empty"),
    ],
)
def test_content_that_breaks_a_domain_rule_is_input_invalid(
    changes: dict[str, Any], words: str
) -> None:
    manifest = parse(ManifestIn, _manifest(**changes))
    with pytest.raises(InputInvalid, match=words):
        manifest.product()


def test_to_product_reports_marking_errors_as_input_invalid() -> None:
    draft = parse(DraftIn, draft_to_wire(product()) | {"classification": "RESTRICTED"})
    with pytest.raises(InputInvalid, match="unknown classification") as caught:
        to_product(draft, **identity_of(product()))
    assert isinstance(caught.value, MarkingInvalid)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"apogee_km": {"value": math.nan}}, "apogee_km"),
        ({"range_km": {"value": 1000, "sigma": math.inf}}, "range_km"),
        ({"impact_time": {"original": "2024-01-14T15:30"}}, "impact_time"),
    ],
    ids=["nan", "inf-sigma", "impact-time-without-zone"],
)
def test_non_finite_or_zoneless_observation_values_are_named(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputInvalid) as caught:
        parse(ManifestIn, _observation(**changes)).product()
    assert field in caught.value.reason


def test_created_at_without_zone_is_refused() -> None:
    with pytest.raises(InputInvalid, match=r"^created_at: .*timezone"):
        parse(ManifestIn, _manifest(created_at="2024-01-14T06:00:00"))


# --- consents ------------------------------------------------------------------------------------


def test_standing_consent_wire_form() -> None:
    assert consent_to_wire(consent(expires_at=T0 + timedelta(days=30))) == {
        "type": "consent",
        "id": CONSENT_ID,
        "originator": "KOR",
        "hub": "USA",
        "recipient": "JPN",
        "issued_at": "2024-01-14T05:55:00Z",
        "topics": ["dprk.missile.*"],
        "max_classification": "SECRET",
        "precedences": [],
        "expires_at": "2024-02-13T05:55:00Z",
    }


def test_per_product_consent_wire_form_drops_absent_terms() -> None:
    data = consent_to_wire(consent(product_id=PRODUCT_ID))
    assert data["product_id"] == PRODUCT_ID
    assert "max_classification" not in data
    assert "expires_at" not in data


@pytest.mark.parametrize(
    "c",
    [
        consent(),
        consent(product_id=PRODUCT_ID, expires_at=T0 + timedelta(hours=1)),
        consent(
            topics={"dprk.*", "dprk.nuclear.test"},
            max_classification=Classification.CONFIDENTIAL,
            precedences={Precedence.FLASH, Precedence.IMMEDIATE},
        ),
    ],
    ids=["standing", "per-product", "precedences"],
)
def test_consent_round_trip(c: Consent) -> None:
    assert parse(ConsentToken, _json(consent_to_wire(c))).consent() == c


@settings(max_examples=100)
@given(consents())
def test_consent_round_trip_property(c: Consent) -> None:
    assert parse(ConsentToken, _json(consent_to_wire(c))).consent() == c


def test_consent_request_parses() -> None:
    request = parse(
        ConsentIn,
        {"recipient": "JPN", "topics": ["dprk.missile.*"], "max_classification": "SECRET"},
    )
    assert request.product_id is None
    assert request.precedences == []


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"recipient": "JAPAN"}, "recipient: "),
        ({"product_id": "p1"}, "product_id: "),
        ({"precedences": ["SOON"]}, "precedences.0: "),
        ({"issued_at": "now"}, "issued_at: "),
        ({"type": "product"}, "type: "),
        ({"scope": "all"}, "scope: Extra inputs are not permitted"),
    ],
)
def test_bad_consent_token_names_the_field(changes: dict[str, Any], where: str) -> None:
    data = _json(consent_to_wire(consent())) | changes
    with pytest.raises(InputInvalid) as caught:
        parse(ConsentToken, data)
    assert caught.value.reason.startswith(where), caught.value.reason


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"max_classification": "SECRETISH"}, "unknown classification"),
        ({"recipient": "KOR"}, "for a third party"),
        ({"product_id": PRODUCT_ID}, "not both"),
        ({"topics": [], "max_classification": None}, "names a product or a standing rule"),
        ({"expires_at": "2024-01-14T05:00:00Z"}, "cannot expire before it is issued"),
    ],
)
def test_consent_token_breaking_a_domain_rule_is_input_invalid(
    changes: dict[str, Any], words: str
) -> None:
    data = {k: v for k, v in (_json(consent_to_wire(consent())) | changes).items() if v is not None}
    token = parse(ConsentToken, data)
    with pytest.raises(InputInvalid, match=words):
        token.consent()


@pytest.mark.parametrize("field", ["issued_at", "expires_at"])
def test_consent_token_with_a_zoneless_time_is_refused(field: str) -> None:
    data = _json(consent_to_wire(consent(expires_at=T0 + timedelta(days=1))))
    with pytest.raises(InputInvalid, match=rf"^{field}: .*timezone"):
        parse(ConsentToken, data | {field: "2024-01-14T05:55:00"})


def test_consent_times_in_other_zones_round_trip_to_the_same_instant() -> None:
    seoul = timezone(timedelta(hours=9))
    c = consent(issued_at=T0.astimezone(seoul))
    back = parse(ConsentToken, _json(consent_to_wire(c))).consent()
    assert back == c
    assert back.issued_at.utcoffset() == timedelta(0)
    assert back.issued_at == datetime(2024, 1, 14, 5, 55, tzinfo=UTC)


def test_a_live_track_consent_wire_form_round_trips_and_names_its_kind() -> None:
    live = consent(
        kind=ConsentKind.LIVE_TRACKS,
        topics=frozenset(),
        modes=frozenset({StreamMode.EXERCISE, StreamMode.LIVE}),
    )
    data = consent_to_wire(live)
    assert data["kind"] == "live-tracks"
    assert data["modes"] == ["exercise", "live"]
    assert "kind" not in consent_to_wire(consent())  # a product consent reads as it always did
    assert parse(ConsentToken, data).consent() == live


def test_a_live_track_consent_with_an_unknown_mode_is_refused() -> None:
    data = consent_to_wire(
        consent(kind=ConsentKind.LIVE_TRACKS, topics=frozenset(), modes={StreamMode.LIVE})
    )
    with pytest.raises(InputInvalid, match="modes"):
        parse(ConsentToken, {**data, "modes": ["drill"]})
