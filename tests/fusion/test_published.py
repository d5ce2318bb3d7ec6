"""The real published figures (domain-facts.md) as fixtures: what fusion must make of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reported import (
    ABOUT,
    EXACT,
    ICBM,
    IRBM,
    KILJU,
    MORE_THAN,
    PYONGYANG,
    SRBM,
    SUNAN,
    WONSAN,
    est,
    events,
    held,
    launch,
    seismic,
)

from tisa.domain.model import ObservationKind, Position
from tisa.fusion import Event, Holding, Quantity

OSHIMA_W = Position(41.5, 136.97, 30.0, "about 200 km west of Oshima-Oshima, inside the EEZ")
OKUSHIRI_W = Position(42.15, 136.44, 30.0, "about 250 km west of Okushiri, outside the EEZ")


def only(found: tuple[Event, ...]) -> Event:
    assert len(found) == 1, [e.label for e in found]
    return found[0]


# --- 18 Nov 2022, ICBM -------------------------------------------------------------------------

KOR_2022 = held(
    "KOR",
    launch(
        "2022-11-18T10:15+09:00",
        missile_class=ICBM,
        launch_position=SUNAN,
        apogee_km=est(6100),
        range_km=est(1000),
    ),
)
JPN_2022 = held(
    "JPN",
    launch(
        "2022-11-18T10:14+09:00",
        missile_class=ICBM,
        flight_time_min=est(69),
        range_km=est(1000),
        apogee_km=est(6000),
        impact_position=OSHIMA_W,
        inside_eez=True,
    ),
)


def test_2022_icbm_is_one_event_with_apogee_between_the_two_reports() -> None:
    event = only(events(KOR_2022, JPN_2022))
    assert event.kind is ObservationKind.MISSILE_LAUNCH
    assert event.parties == ("JPN", "KOR")
    assert event.count == 1
    apogee = event.fused[Quantity.APOGEE_KM]
    assert apogee.value is not None
    assert 6000 < apogee.value < 6100
    # Both "about": the default sigma is 10 % of the apogee itself, so they weigh the same.
    assert apogee.value == pytest.approx(6050)
    assert apogee.sigma == pytest.approx(605 / 2**0.5, rel=1e-3)
    assert apogee.method.startswith("inverse-variance")
    assert {s.originator for s in apogee.sources} == {"KOR", "JPN"}
    assert not event.disagreements
    # 10:15 KST and 10:14 JST name the minutes from 01:15Z and 01:14Z: their middles,
    # 01:15:30 and 01:14:30, fuse to 01:15:00 (reading them as points would give 01:14:30).
    assert event.time == datetime(2022, 11, 18, 1, 15, tzinfo=UTC)
    assert event.label == "ICBM launch 2022-11-18 01:15Z"
    assert Quantity.IMPACT_POSITION in event.fused
    assert event.fused[Quantity.FLIGHT_TIME_MIN].value == 69


def test_2022_icbm_times_keep_their_original_wording() -> None:
    event = only(events(KOR_2022, JPN_2022))
    texts = {
        r.source.originator: next(f.text for f in fs if f.quantity is Quantity.TIME)
        for r, fs in zip(event.reports, event.figures, strict=True)
    }
    assert texts["KOR"] == "about 2022-11-18T01:15:00Z (reported as 2022-11-18T10:15+09:00)"
    assert texts["JPN"] == "about 2022-11-18T01:14:00Z (reported as 2022-11-18T10:14+09:00)"


# --- 18 Dec 2023, Hwasong-18: JPN's apogee is a bound ------------------------------------------

KOR_HS18 = held(
    "KOR",
    launch(
        "2023-12-18T08:24+09:00",
        missile_class=ICBM,
        launch_position=PYONGYANG,
        range_km=est(1000),
        lofted=True,
    ),
)
JPN_HS18 = held(
    "JPN",
    launch(
        "2023-12-18T08:24+09:00",
        missile_class=ICBM,
        flight_time_min=est(73),
        range_km=est(1000),
        apogee_km=est(6000, MORE_THAN),
        impact_time=None,
        impact_position=OKUSHIRI_W,
        inside_eez=False,
    ),
)


def test_hwasong_18_apogee_more_than_6000_is_a_bound_not_a_value() -> None:
    event = only(events(KOR_HS18, JPN_HS18))
    apogee = event.fused[Quantity.APOGEE_KM]
    assert apogee.lower == 6000
    assert apogee.upper is None
    assert apogee.method == "bound only"
    assert apogee.text == "more than 6,000 km"
    assert not event.disagreements
    assert event.fused[Quantity.RANGE_KM].value == pytest.approx(1000)


def test_a_value_above_the_bound_is_truncated_not_averaged_with_it() -> None:
    usa = held(
        "USA",
        launch("2023-12-17T13:24-10:00", missile_class=ICBM, apogee_km=est(6300, ABOUT, 400)),
    )
    event = only(events(KOR_HS18, JPN_HS18, usa))
    apogee = event.fused[Quantity.APOGEE_KM]
    assert apogee.lower == 6000
    assert apogee.value is not None
    assert apogee.sigma is not None
    # The bound pushes the estimate up and narrows it; 6000 is never averaged in.
    assert 6300 < apogee.value < 6700
    assert apogee.sigma < 400
    assert "truncated by bounds" in apogee.method
    assert not event.disagreements
    assert "USA" in event.parties


def test_a_value_below_the_bound_is_a_disagreement() -> None:
    usa = held(
        "USA",
        launch("2023-12-17T13:24-10:00", missile_class=ICBM, apogee_km=est(5000, ABOUT, 200)),
    )
    event = only(events(KOR_HS18, JPN_HS18, usa))
    (found,) = event.disagreements
    assert found.quantity is Quantity.APOGEE_KM
    assert found.gap == 1000
    assert found.unit == "km"
    assert found.sigmas == pytest.approx(5.0)
    assert {s.originator for s in found.sources} == {"USA", "JPN"}
    assert "more than 6,000 km" in found.text


# --- 3 Sep 2017: one test, three agencies, a collapse 8 minutes later ---------------------------

KOR_2017 = held(
    "KOR",
    seismic(
        "2017-09-03T12:29+09:00",
        position=KILJU,
        magnitude=est(5.7, EXACT),
        yield_kt=est(55, ABOUT, 5),
    ),
)
JPN_2017_TIME = "2017-09-03T12:31+09:00"
JPN_PID = "3b1f7c2e-8a4d-4e6f-9b0c-1d2e3f4a5b6c"


def jpn_2017(version: int, yield_kt: float) -> Holding:
    return held(
        "JPN",
        seismic(JPN_2017_TIME, position=KILJU, magnitude=est(6.1, EXACT), yield_kt=est(yield_kt)),
        pid=JPN_PID,
        version=version,
    )


USA_2017 = held(
    "USA",
    seismic(
        "2017-09-03T03:30:01Z",
        time_qualifier=EXACT,
        position=Position(41.34, 129.04, 6.0, "USGS"),
        magnitude=est(6.3, EXACT),
    ),
)
USA_COLLAPSE = held(
    "USA",
    seismic(
        "2017-09-03T03:38:32Z",
        time_qualifier=EXACT,
        position=Position(41.33, 129.05, 8.0, "USGS"),
        magnitude=est(4.6, EXACT),
    ),
)
KOR_COLLAPSE = held(
    "KOR", seismic("2017-09-03T12:38+09:00", position=KILJU, magnitude=est(4.4, EXACT))
)


def _2017() -> tuple[Event, ...]:
    return events(
        KOR_2017,
        jpn_2017(1, 70),
        jpn_2017(2, 120),
        jpn_2017(3, 160),
        USA_2017,
        USA_COLLAPSE,
        KOR_COLLAPSE,
    )


def test_2017_test_is_one_event_and_the_collapse_another() -> None:
    collapse, test = _2017()  # newest first
    assert test.kind is collapse.kind is ObservationKind.NUCLEAR_TEST
    assert test.parties == ("JPN", "KOR", "USA")
    assert collapse.parties == ("KOR", "USA")
    assert test.label == "Nuclear test 2017-09-03 03:30Z"
    assert collapse.label == "Seismic event at a test site 2017-09-03 03:38Z"
    assert test.count == collapse.count == 1
    assert test.id != collapse.id
    magnitude = collapse.fused[Quantity.MAGNITUDE].value
    assert magnitude is not None
    assert 4.4 < magnitude < 4.6


def test_2017_magnitudes_disagree_naming_both_sources() -> None:
    test = _2017()[1]
    flagged = {
        tuple(s.originator for s in d.sources): d
        for d in test.disagreements
        if d.quantity is Quantity.MAGNITUDE
    }
    kor_usa = next(d for pair, d in flagged.items() if set(pair) == {"KOR", "USA"})
    assert kor_usa.gap == pytest.approx(0.6)
    assert kor_usa.unit == "M"
    assert kor_usa.sigmas is not None
    assert kor_usa.sigmas > 2
    assert "KOR" in kor_usa.text
    assert "USA" in kor_usa.text
    assert all(s.version >= 1 and len(s.product_id) == 36 for s in kor_usa.sources)
    # JMA 6.1 and USGS 6.3 are within their combined uncertainty.
    assert not any(set(pair) == {"JPN", "USA"} for pair in flagged)


def test_2017_only_the_latest_revision_of_the_yield_counts() -> None:
    test = _2017()[1]
    jpn = [r for r in test.reports if r.source.originator == "JPN"]
    assert [r.source.version for r in jpn] == [3]
    assert [p.version for p in jpn[0].history] == [1, 2]
    yields = [
        f.value
        for r, fs in zip(test.reports, test.figures, strict=True)
        for f in fs
        if f.quantity is Quantity.YIELD_KT and r.source.originator == "JPN"
    ]
    assert yields == [160]
    fused = test.fused[Quantity.YIELD_KT]
    assert {(s.originator, s.version) for s in fused.sources} == {("KOR", 1), ("JPN", 3)}


def test_2017_time_is_normalised_from_three_zones() -> None:
    test = _2017()[1]
    # 12:29 KST, 12:31 JST (about) and 03:30:01 UTC (exact, so it weighs most).
    assert datetime(2017, 9, 3, 3, 29, tzinfo=UTC) < test.time
    assert test.time < datetime(2017, 9, 3, 3, 31, tzinfo=UTC)
    assert abs((test.time - datetime(2017, 9, 3, 3, 30, 1, tzinfo=UTC)).total_seconds()) < 30


# --- 17 Dec 2023 SRBM: ranges 570 and 400 km -----------------------------------------------------


def test_2023_srbm_ranges_disagree() -> None:
    kor = held("KOR", launch("2023-12-17T22:38+09:00", missile_class=SRBM, range_km=est(570)))
    jpn = held(
        "JPN",
        launch("2023-12-17T22:37+09:00", missile_class=SRBM, range_km=est(400), apogee_km=est(50)),
    )
    event = only(events(kor, jpn))
    (found,) = event.disagreements
    assert found.quantity is Quantity.RANGE_KM
    assert found.gap == pytest.approx(170)
    assert found.unit == "km"
    assert found.sigmas == pytest.approx(170 / (57**2 + 40**2) ** 0.5)
    assert [s.originator for s in found.sources] == sorted(
        ["KOR", "JPN"], key=lambda o: next(s for s in found.sources if s.originator == o)
    )
    assert "570 km" in found.text
    assert "400 km" in found.text
    assert event.label == "SRBM launch 2023-12-17 13:38Z"


# --- 14 Jan 2024 IRBM: 14:55 and 14:53, "more than 500 km" --------------------------------------


def test_2024_irbm_two_minutes_apart_is_one_event_and_the_bounds_hold() -> None:
    kor = held(
        "KOR",
        launch(
            "2024-01-14T14:55+09:00",
            missile_class=IRBM,
            launch_position=PYONGYANG,
            range_km=est(1000),
        ),
    )
    jpn = held(
        "JPN",
        launch(
            "2024-01-14T14:53+09:00",
            missile_class=IRBM,
            range_km=est(500, MORE_THAN),
            apogee_km=est(50, MORE_THAN),
        ),
    )
    event = only(events(kor, jpn))
    assert not event.disagreements
    rng = event.fused[Quantity.RANGE_KM]
    assert rng.lower == 500
    assert rng.value == pytest.approx(1000, abs=1)
    assert event.label == "IRBM launch 2024-01-14 05:54Z"


def test_launches_hours_apart_and_in_other_places_are_separate() -> None:
    first = held("KOR", launch("2024-01-14T14:55+09:00", launch_position=PYONGYANG))
    later = held("KOR", launch("2024-01-14T18:55+09:00", launch_position=PYONGYANG))
    sinpo = Position(40.03, 128.18, 10.0, "Sinpo")  # ~240 km from Pyongyang
    elsewhere = held("JPN", launch("2024-01-14T14:56+09:00", launch_position=sinpo))
    nearby = held("JPN", launch("2024-01-14T14:56+09:00", launch_position=WONSAN))  # ~147 km
    no_place = held("USA", launch("2024-01-14T14:57+09:00"))
    assert len(events(first, later)) == 2
    assert len(events(first, elsewhere)) == 2
    # Inside the arrangement's 150 km reach, but 8 of their combined sigmas apart: two places.
    assert len(events(first, nearby)) == 2
    # A report without a place links on time alone.
    assert len(events(first, no_place)) == 1
