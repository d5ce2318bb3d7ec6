"""Association under stress: close launches at neighbouring sites, reports without a place,
chains, and one nation's reports of different missiles (issue 16)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from reported import EXACT, ICBM, SRBM, est, events, held, launch

from tisa.domain.model import Position
from tisa.fusion import Quantity
from tisa.fusion.correlation import NoteKind
from tisa.fusion.sites import site_named

T = "2024-01-14T14:55+09:00"
SUNAN = Position(39.20, 125.67, 10.0, "Sunan area")
SOHAE = Position(39.66, 124.70, 10.0, "Tongchang-ri (Sohae)")
WONSAN = Position(39.15, 127.45, 10.0, "Wonsan area")
SINPO = Position(40.03, 128.18, 10.0, "Sinpo")
# Without a stated sigma (25 km assumed): the site's name still tells the places apart.
SUNAN_VAGUE = Position(39.25, 125.60, None, "near Sunan")
SOHAE_VAGUE = Position(39.60, 124.80, None, "Sohae area")


def _at(minutes: float) -> str:
    return (datetime.fromisoformat(T) + timedelta(minutes=minutes)).isoformat(timespec="minutes")


def test_named_sites_resolve_specific_before_area() -> None:
    assert site_named("Sunan, Pyongyang") == site_named("SUNAN")
    assert site_named("Pyongyang area") is not None
    assert site_named("launch area") is None


def test_sunan_and_sohae_minutes_apart_are_two_launches() -> None:
    for gap in (2, 5, 10):
        kor = held(
            "KOR",
            launch(_at(0), missile_class=SRBM, launch_position=SUNAN, range_km=est(400)),
            launch(_at(gap), missile_class=SRBM, launch_position=SOHAE, range_km=est(800)),
        )
        jpn_sunan = held(
            "JPN",
            launch(_at(0), missile_class=SRBM, launch_position=SUNAN_VAGUE, range_km=est(410)),
        )
        jpn_sohae = held(
            "JPN",
            launch(_at(gap), missile_class=SRBM, launch_position=SOHAE_VAGUE, range_km=est(790)),
        )
        found = events(kor, jpn_sunan, jpn_sohae)
        assert len(found) == 2, gap
        ranges = sorted(e.fused[Quantity.RANGE_KM].value or 0 for e in found)
        assert ranges[0] < 420
        assert ranges[1] > 780
        assert all(e.count == 1 for e in found)
        assert all(e.parties == ("JPN", "KOR") for e in found)


def test_wonsan_and_sinpo_keep_apart_and_a_placeless_report_joins_the_nearer_in_time() -> None:
    kor = held(
        "KOR",
        launch(_at(0), launch_position=WONSAN),
        launch(_at(8), launch_position=SINPO),
    )
    jpn = held("JPN", launch(_at(0), launch_position=WONSAN))
    usa = held("USA", launch(_at(8)))  # time alone
    found = sorted(events(kor, jpn, usa), key=lambda e: e.time)
    assert [e.parties for e in found] == [("JPN", "KOR"), ("KOR", "USA")]


def test_a_placeless_report_between_two_sites_stays_alone_and_says_why() -> None:
    kor = held("KOR", launch(_at(0), launch_position=SUNAN))
    jpn = held("JPN", launch(_at(4), launch_position=SINPO))
    usa = held("USA", launch(_at(2)))  # exactly between: either could be its launch
    found = events(kor, jpn, usa)
    assert len(found) == 3
    (lone,) = [e for e in found if e.parties == ("USA",)]
    (note,) = lone.notes
    assert note.kind is NoteKind.ALONE
    assert "Sunan" in note.text
    assert "Sinpo" in note.text


def test_seven_launches_nine_minutes_apart_from_one_site_are_seven_events() -> None:
    kor = [held("KOR", launch(_at(9 * n), launch_position=SUNAN)) for n in range(7)]
    jpn = [held("JPN", launch(_at(9 * n), launch_position=SUNAN_VAGUE)) for n in range(7)]
    found = events(*kor, *jpn)
    assert len(found) == 7
    assert all(e.parties == ("JPN", "KOR") and e.count == 1 for e in found)


def test_different_classes_do_not_merge_but_neighbours_may() -> None:
    icbm = held("KOR", launch(_at(0), missile_class=ICBM, launch_position=SUNAN))
    srbm = held("JPN", launch(_at(1), missile_class=SRBM, launch_position=SUNAN_VAGUE))
    assert len(events(icbm, srbm)) == 2


_sites = st.sampled_from([SUNAN, SOHAE, WONSAN, SINPO])


@settings(max_examples=40, deadline=None)
@given(_sites, _sites, st.integers(0, 12), st.integers(2, 3))
def test_two_reports_of_one_nation_are_never_one_missile(
    a: Position, b: Position, gap: int, count: int
) -> None:
    kor_a = held("KOR", launch(_at(0), launch_position=a, count=est(count, EXACT)))
    kor_b = held("KOR", launch(_at(gap), launch_position=b))
    jpn = held("JPN", launch(_at(gap / 2)))
    for event in events(kor_a, kor_b, jpn):
        for missile in event.missiles:
            kor = [r for r in missile.reports if r.source.originator == "KOR"]
            assert len(kor) <= 1
        ids = {r.source.product_id for r in event.reports}
        if a != b:  # different sites: different events, whatever the gap
            assert not {kor_a.product.id, kor_b.product.id} <= ids
