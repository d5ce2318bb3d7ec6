"""Times as intervals, and reports off by a time-zone mistake (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reported import ICBM, at, events, held, launch

from tisa.domain.model import MissileLaunch, Position
from tisa.fusion import Quantity
from tisa.fusion.correlation import NoteKind
from tisa.fusion.quantities import resolution_s

SUNAN = Position(39.20, 125.67, 10.0, "Sunan area")


@pytest.mark.parametrize(
    ("original", "width"),
    [
        ("2022-11-18T10:14+09:00", 60),
        ("2017-09-03T03:30:01Z", 1),
        ("2017-09-03T03:30:01.25Z", 0.01),
        ("2017-09-03T03Z", 3600),
        ("2017-09-03 12:29+09:00", 60),
    ],
)
def test_the_resolution_comes_from_the_wording(original: str, width: float) -> None:
    assert resolution_s(original) == pytest.approx(width)


def test_a_minute_is_an_interval_and_its_middle_is_the_value() -> None:
    (event,) = events(held("JPN", launch("2022-11-18T10:14+09:00")))
    (time,) = [f for f in event.figures[0] if f.quantity is Quantity.TIME]
    assert time.value == datetime(2022, 11, 18, 1, 14, 30, tzinfo=UTC).timestamp()
    assert time.resolution == 60
    assert time.sigma == pytest.approx((60**2 + 60**2 / 12) ** 0.5)


def _mistagged(local: str, zone: str) -> MissileLaunch:
    """KOR's 10:15 KST written with the wrong zone."""
    return launch(local + zone, missile_class=ICBM, launch_position=SUNAN)


@pytest.mark.parametrize(("zone", "hours"), [("Z", 9), ("-09:00", 18)])
def test_a_zone_mistake_is_linked_and_flagged_not_a_phantom(zone: str, hours: int) -> None:
    jpn = held("JPN", launch("2022-11-18T10:14+09:00", missile_class=ICBM, launch_position=SUNAN))
    usa = held("USA", launch("2022-11-17T15:15-10:00", missile_class=ICBM))
    kor = held("KOR", _mistagged("2022-11-18T10:15", zone))
    (event,) = events(jpn, usa, kor)
    assert event.parties == ("JPN", "KOR", "USA")
    (note,) = event.notes
    assert note.kind is NoteKind.ZONE
    assert note.source.originator == "KOR"
    assert f"{hours} h" in note.text
    # KOR's time is left out of the fused time, and flags nothing.
    assert "KOR" not in {s.originator for s in event.fused[Quantity.TIME].sources}
    assert not [d for d in event.disagreements if d.quantity is Quantity.TIME]


def test_a_placeless_report_off_by_hours_stays_alone() -> None:
    jpn = held("JPN", launch("2022-11-18T10:14+09:00", launch_position=SUNAN))
    kor = held("KOR", launch("2022-11-18T10:15Z"))
    assert len(events(jpn, kor)) == 2


@settings(max_examples=40, deadline=None)
@given(st.integers(-26, 26).filter(lambda h: h != 0), st.integers(-90, 90))
def test_any_whole_hour_error_links_and_flags(hours: int, noise_s: int) -> None:
    base = datetime(2023, 3, 16, 7, 10, tzinfo=UTC)
    true = base + timedelta(seconds=noise_s)

    def at_utc(moment: datetime) -> str:
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

    jpn = held("JPN", MissileLaunch(at(at_utc(base), sigma_s=20), launch_position=SUNAN))
    usa = held("USA", MissileLaunch(at(at_utc(base), sigma_s=20)))
    wrong = true + timedelta(hours=hours)
    kor = held("KOR", MissileLaunch(at(at_utc(wrong), sigma_s=20), launch_position=SUNAN))
    (event,) = events(jpn, usa, kor)
    assert [n.kind for n in event.notes] == [NoteKind.ZONE]
    assert abs(event.time - base) < timedelta(seconds=30)


def test_a_seismic_two_minute_gap_is_flagged() -> None:
    from reported import KILJU, seismic

    kor = held("KOR", seismic("2017-09-03T12:29+09:00", position=KILJU))
    jpn = held("JPN", seismic("2017-09-03T12:31+09:00", position=KILJU))
    (event,) = events(kor, jpn)
    assert [d.quantity for d in event.disagreements] == [Quantity.TIME]
