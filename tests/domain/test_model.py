"""Tests for tisa.domain.model: invariants of the frozen domain objects, what a consent covers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from harness.factories import (
    LAUNCH,
    NUCLEAR_TEST,
    OTHER_PRODUCT_ID,
    PRODUCT_ID,
    T0,
    consent,
    consents,
    instant,
    launch,
    moments,
    nuclear_test,
    product,
    products,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.domain.consent import Consent, ConsentKind, HeldConsent, StreamMode
from tisa.domain.markings import Classification, Precedence
from tisa.domain.model import (
    OBSERVATIONS_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Estimate,
    Instant,
    ObservationKind,
    Position,
    Product,
    Qualifier,
    topic_matches,
)
from tisa.errors import InputInvalid

HOUR = timedelta(hours=1)

# --- Estimate, Instant, Position -----------------------------------------------------------------


def test_estimate_defaults() -> None:
    e = Estimate(6000)
    assert (e.value, e.qualifier, e.sigma) == (6000, Qualifier.ABOUT, None)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_estimate_value_must_be_finite(value: float) -> None:
    with pytest.raises(InputInvalid, match="not a finite number"):
        Estimate(value)


@pytest.mark.parametrize("sigma", [-0.1, math.nan, math.inf])
def test_estimate_sigma_must_be_finite_and_not_negative(sigma: float) -> None:
    with pytest.raises(InputInvalid, match="uncertainty"):
        Estimate(1.0, Qualifier.ABOUT, sigma)


def test_estimate_may_be_negative_and_sigma_zero() -> None:
    assert Estimate(-1.5, Qualifier.EXACT, 0.0).value == -1.5


@pytest.mark.parametrize(
    ("qualifier", "bound"),
    [
        (Qualifier.EXACT, False),
        (Qualifier.ABOUT, False),
        (Qualifier.AT_LEAST, True),
        (Qualifier.MORE_THAN, True),
        (Qualifier.UP_TO, True),
        (Qualifier.LESS_THAN, True),
    ],
)
def test_qualifier_is_bound(qualifier: Qualifier, bound: bool) -> None:
    assert qualifier.is_bound is bound


def test_instant_in_utc() -> None:
    i = instant("2022-11-18T10:14+09:00")
    assert i.utc == datetime(2022, 11, 18, 1, 14, tzinfo=UTC)
    assert i.original == "2022-11-18T10:14+09:00"
    # any zero-offset zone is UTC
    Instant(datetime(2022, 11, 18, 1, 14, tzinfo=timezone(timedelta(0))), "x")


@pytest.mark.parametrize(
    "moment",
    [datetime(2022, 11, 18, 1, 14), datetime(2022, 11, 18, 10, 14, tzinfo=timezone(9 * HOUR))],
    ids=["naive", "not-utc"],
)
def test_instant_must_be_aware_utc(moment: datetime) -> None:
    with pytest.raises(InputInvalid, match="timezone-aware UTC"):
        Instant(moment, "2022-11-18T10:14+09:00")


@pytest.mark.parametrize("sigma", [-1.0, math.nan, math.inf])
def test_instant_sigma(sigma: float) -> None:
    with pytest.raises(InputInvalid, match="time uncertainty"):
        instant(sigma_s=sigma)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"lat": 90.5, "lon": 0}, "latitude 90.5 is outside -90..90"),
        ({"lat": -91, "lon": 0}, "latitude"),
        ({"lat": math.nan, "lon": 0}, "latitude"),
        ({"lat": 0, "lon": 180.01}, "longitude 180.01 is outside -180..180"),
        ({"lat": 0, "lon": -math.inf}, "longitude"),
        ({"lat": 0, "lon": 0, "sigma_km": -1}, "position uncertainty"),
        ({"lat": 0, "lon": 0, "sigma_km": math.nan}, "position uncertainty"),
    ],
)
def test_position_invalid(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(InputInvalid, match=words):
        Position(**fields)


def test_position_edges_are_valid() -> None:
    assert Position(90, 180).lat == 90
    assert Position(-90, -180, 0.0).sigma_km == 0.0


# --- observations --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["count", "apogee_km", "range_km", "flight_time_min"])
def test_missile_launch_figures_must_not_be_negative(name: str) -> None:
    with pytest.raises(InputInvalid, match=f"{name} -1 must not be negative"):
        launch(**{name: Estimate(-1)})


def test_observation_kinds() -> None:
    assert launch().kind is ObservationKind.MISSILE_LAUNCH
    assert nuclear_test().kind is ObservationKind.NUCLEAR_TEST


def test_nuclear_test_yield_must_not_be_negative_but_magnitude_may() -> None:
    with pytest.raises(InputInvalid, match="yield -5 kt must not be negative"):
        nuclear_test(yield_kt=Estimate(-5))
    assert nuclear_test(magnitude=Estimate(-0.5)).magnitude == Estimate(-0.5)


# --- Product -------------------------------------------------------------------------------------


def test_default_product() -> None:
    p = product()
    assert p.originator == "KOR"
    assert p.classification is Classification.SECRET
    assert p.precedence is Precedence.FLASH
    assert p.topics == frozenset({LAUNCH})
    assert p.observations == (launch(),)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"version": 0}, "version 0 must be 1 or more"),
        ({"version": -3}, "version -3"),
        ({"title": ""}, "title is empty"),
        ({"title": " \t\n"}, "title is empty"),
        ({"title": "x" * (TITLE_MAX + 1)}, f"longer than {TITLE_MAX}"),
        ({"text": "x" * (TEXT_MAX + 1)}, f"longer than {TEXT_MAX}"),
        ({"topics": frozenset()}, "at least one topic"),
        ({"topics": {"DPRK.missile"}}, "topic 'DPRK.missile' must be dotted lowercase words"),
        ({"topics": {LAUNCH, "missile"}}, "topic 'missile'"),
        ({"topics": {"dprk.missile.*"}}, "topic 'dprk.missile.*'"),
        ({"observations": (launch(),) * (OBSERVATIONS_MAX + 1)}, f"more than {OBSERVATIONS_MAX}"),
    ],
)
def test_product_invalid(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        product(**overrides)
    assert words in caught.value.reason


def test_product_edges_are_valid() -> None:
    p = product(
        title="x" * TITLE_MAX,
        text="x" * TEXT_MAX,
        observations=(launch(),) * OBSERVATIONS_MAX,
        topics={LAUNCH, NUCLEAR_TEST},
    )
    assert len(p.observations) == OBSERVATIONS_MAX
    assert product(text="").text == ""


def test_product_is_frozen_and_equal_by_value() -> None:
    assert product() == product()
    assert product(version=2) != product()
    with pytest.raises(AttributeError):
        product().title = "other"  # type: ignore[misc]


# --- topic patterns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("*", LAUNCH, True),
        (LAUNCH, LAUNCH, True),
        ("dprk.missile.*", LAUNCH, True),
        ("dprk.*", LAUNCH, True),
        ("dprk.missile.*", NUCLEAR_TEST, False),
        ("dprk.missile.*", "dprk.missile", False),
        ("dprk.missile.*", "dprk.missiles.launch", False),
        ("dprk.*", "dprkx.missile", False),
        ("dprk.missile", LAUNCH, False),
        ("dprk.missile.launch.*", LAUNCH, False),
        ("*.launch", LAUNCH, False),
        ("dprk.missile.l*", LAUNCH, False),
    ],
)
def test_topic_matches(pattern: str, topic: str, matches: bool) -> None:
    assert topic_matches(pattern, topic) is matches


# --- Consent: construction -----------------------------------------------------------------------


def test_default_consent_is_a_standing_rule() -> None:
    c = consent()
    assert c.standing
    assert c.product_id is None


def test_per_product_consent() -> None:
    c = consent(product_id=PRODUCT_ID)
    assert not c.standing
    assert c.topics == frozenset()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"topics": frozenset(), "max_classification": None}, "names a product or a standing rule"),
        ({"product_id": PRODUCT_ID, "topics": {"dprk.*"}}, "not both"),
        (
            {"product_id": PRODUCT_ID, "max_classification": Classification.SECRET},
            "not both",
        ),
        ({"max_classification": None}, "needs topics and a maximum classification"),
        ({"topics": frozenset()}, "needs topics and a maximum classification"),
        ({"expires_at": T0}, "cannot expire before it is issued"),
        ({"expires_at": T0 - HOUR}, "cannot expire before it is issued"),
        ({"recipient": "KOR"}, "for a third party"),
        ({"recipient": "USA"}, "for a third party"),
    ],
)
def test_consent_invalid(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(InputInvalid, match=words):
        consent(**overrides)


def test_consent_refuses_naive_times() -> None:
    with pytest.raises(InputInvalid):
        consent(issued_at=datetime(2024, 1, 14, 5, 55))


@pytest.mark.parametrize("pattern", ["DPRK.*", "dprk.*.launch", ""])
def test_consent_refuses_patterns_that_can_never_match(pattern: str) -> None:
    with pytest.raises(InputInvalid, match="topic"):
        consent(topics={pattern})


# --- Consent: covers -----------------------------------------------------------------------------


def test_per_product_consent_covers_that_product_in_every_version() -> None:
    c = consent(product_id=PRODUCT_ID)
    assert c.covers(product())
    assert c.covers(product(version=7))
    assert not c.covers(product(id=OTHER_PRODUCT_ID))


def test_per_product_consent_covers_orcon_and_anything_else_about_the_product() -> None:
    c = consent(product_id=PRODUCT_ID)
    assert c.covers(product(orcon=True))
    assert c.covers(product(classification=Classification.TOP_SECRET, topics={"dprk.nuclear.test"}))


def test_consent_never_covers_another_originators_product() -> None:
    jpn = {"originator": "JPN", "rel_to": {"USA", "JPN", "KOR"}}
    assert not consent().covers(product(**jpn))
    assert not consent(product_id=PRODUCT_ID).covers(product(**jpn))


def test_standing_rule_by_topic_pattern() -> None:
    c = consent(topics={"dprk.missile.*"})
    assert c.covers(product(topics={"dprk.missile.launch"}))
    assert c.covers(product(topics={"dprk.missile.launch", "dprk.missile.slbm"}))
    assert not c.covers(product(topics={"dprk.nuclear.test"}))
    # every topic must be covered, not just one
    assert not c.covers(product(topics={"dprk.missile.launch", "dprk.nuclear.test"}))


def test_standing_rule_with_several_patterns() -> None:
    c = consent(topics={"dprk.missile.*", "dprk.nuclear.test"})
    assert c.covers(product(topics={"dprk.missile.launch", "dprk.nuclear.test"}))
    assert not c.covers(product(topics={"dprk.nuclear.site-activity"}))


def test_standing_rule_classification_ceiling() -> None:
    c = consent(max_classification=Classification.SECRET)
    assert c.covers(product(classification=Classification.CONFIDENTIAL))
    assert c.covers(product(classification=Classification.SECRET))
    assert not c.covers(product(classification=Classification.TOP_SECRET))
    low = consent(max_classification=Classification.CONFIDENTIAL)
    assert not low.covers(product(classification=Classification.SECRET))


def test_standing_rule_precedences() -> None:
    any_precedence = consent()
    flash_only = consent(precedences={Precedence.FLASH, Precedence.IMMEDIATE})
    for precedence in Precedence:
        p = product(precedence=precedence)
        assert any_precedence.covers(p)
        assert flash_only.covers(p) is (precedence in (Precedence.FLASH, Precedence.IMMEDIATE))


def test_standing_rule_never_covers_orcon() -> None:
    c = consent(topics={"*"}, max_classification=Classification.TOP_SECRET)
    assert c.covers(product())
    assert not c.covers(product(orcon=True))


@settings(max_examples=200)
@given(consents(), products())
def test_standing_rule_never_covers_orcon_property(c: Consent, p: Product) -> None:
    if c.standing and p.markings.orcon:
        assert not c.covers(p)
    if p.originator != c.originator:
        assert not c.covers(p)


# --- Consent: in force ---------------------------------------------------------------------------


def test_in_force_from_issue_until_expiry() -> None:
    c = consent(issued_at=T0, expires_at=T0 + 24 * HOUR)
    assert not c.in_force(T0 - timedelta(microseconds=1), None)
    assert c.in_force(T0, None)
    assert c.in_force(T0 + 24 * HOUR - timedelta(microseconds=1), None)
    assert not c.in_force(T0 + 24 * HOUR, None)
    assert not c.in_force(T0 + 48 * HOUR, None)


def test_in_force_without_expiry() -> None:
    assert consent().in_force(T0 + 10_000 * HOUR, None)


def test_in_force_until_revoked() -> None:
    c = consent()
    revoked = T0 + 2 * HOUR
    assert c.in_force(T0 + HOUR, revoked)
    assert not c.in_force(revoked, revoked)
    assert not c.in_force(T0 + 3 * HOUR, revoked)


def test_in_force_compares_instants_across_zones() -> None:
    c = consent(issued_at=T0, expires_at=T0 + HOUR)
    seoul = timezone(9 * HOUR)
    assert c.in_force(T0.astimezone(seoul), None)
    assert not c.in_force((T0 + HOUR).astimezone(seoul), None)


@given(consents(), moments(), st.none() | moments())
def test_in_force_property(c: Consent, now: datetime, revoked_at: datetime | None) -> None:
    expected = (
        c.issued_at <= now
        and (c.expires_at is None or now < c.expires_at)
        and (revoked_at is None or now < revoked_at)
    )
    assert c.in_force(now, revoked_at) is expected


def test_held_consent_defaults_to_unrevoked() -> None:
    assert HeldConsent(consent()).revoked_at is None


def test_product_refuses_a_naive_created_at() -> None:
    with pytest.raises(InputInvalid):
        product(created_at=datetime(2024, 1, 14, 6, 0))


# --- Consent: live tracks --------------------------------------------------------------------


def _live(**overrides: Any) -> Consent:
    fields: dict[str, Any] = {
        "kind": ConsentKind.LIVE_TRACKS,
        "topics": frozenset(),
        "modes": frozenset({StreamMode.LIVE}),
    }
    return consent(**(fields | overrides))


def test_a_live_track_consent_names_a_ceiling_and_modes_only() -> None:
    c = _live(modes=frozenset({StreamMode.LIVE, StreamMode.EXERCISE}))
    assert c.kind is ConsentKind.LIVE_TRACKS
    assert c.max_classification == Classification.SECRET


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"modes": frozenset()}, "at least one mode"),
        ({"max_classification": None}, "maximum classification"),
        ({"topics": frozenset({"dprk.missile.*"})}, "not products, topics"),
        ({"product_id": PRODUCT_ID}, "not products, topics"),
        ({"precedences": frozenset({Precedence.FLASH})}, "not products, topics"),
        ({"recipient": "USA"}, "for a third party"),
    ],
)
def test_a_live_track_consent_refuses_other_terms(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(InputInvalid, match=words):
        _live(**overrides)


def test_a_product_consent_takes_no_modes() -> None:
    with pytest.raises(InputInvalid, match="belong to a live-track consent"):
        consent(modes=frozenset({StreamMode.LIVE}))


def test_a_live_track_consent_never_covers_a_product() -> None:
    assert not _live(max_classification=Classification.TOP_SECRET).covers(product())


@given(
    level=st.sampled_from(list(Classification)),
    ceiling=st.sampled_from(list(Classification)),
    modes=st.frozensets(st.sampled_from(list(StreamMode)), min_size=1),
    mode=st.sampled_from(list(StreamMode)),
    originator=st.sampled_from(["KOR", "JPN", "USA"]),
)
def test_a_live_track_consent_covers_exactly_its_originators_streams_in_its_terms(
    level: Classification,
    ceiling: Classification,
    modes: frozenset[StreamMode],
    mode: StreamMode,
    originator: str,
) -> None:
    c = _live(max_classification=ceiling, modes=modes)
    expected = originator == "KOR" and level <= ceiling and mode in modes
    assert c.covers_stream(originator, level, mode) is expected


def test_a_product_consent_never_covers_a_stream() -> None:
    assert not consent().covers_stream("KOR", Classification.CONFIDENTIAL, StreamMode.LIVE)
