"""Correlation: salvos, windows from the arrangement, amendments, recalls, stable ids."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from reported import AT_LEAST, EXACT, PYONGYANG, SRBM, WINDOWS, est, events, held, launch, seismic

from tisa.domain.arrangement import FusionWindows
from tisa.domain.model import ObservationKind
from tisa.fusion import Quantity, correlate, current_reports

T = "2024-01-14T14:55:00+09:00"


def _at(minutes: float) -> str:
    moment = datetime.fromisoformat(T) + timedelta(minutes=minutes)
    return moment.isoformat()


def test_a_salvo_reported_as_a_count_and_missile_by_missile_is_one_event_of_two() -> None:
    kor = held("KOR", launch(_at(0), missile_class=SRBM, count=est(2, EXACT)))
    jpn = held(
        "JPN",
        launch(_at(0), missile_class=SRBM, launch_position=PYONGYANG),
        launch(_at(3), missile_class=SRBM, launch_position=PYONGYANG),
    )
    (event,) = events(kor, jpn)
    assert event.count == 2
    assert event.label.startswith("2 × SRBM launch")
    assert len(event.reports) == 3
    assert event.fused[Quantity.COUNT].text == "2"


def test_a_count_hedged_at_least_says_so() -> None:
    jpn = held("JPN", launch(_at(0), count=est(3, AT_LEAST)))
    (event,) = events(jpn)
    assert event.count == 3
    assert event.fused[Quantity.COUNT].text == "at least 3"


def test_launch_window_comes_from_the_arrangement() -> None:
    a = held("KOR", launch(_at(0)))
    b = held("JPN", launch(_at(4)))
    assert len(events(a, b)) == 1
    narrow = FusionWindows(launch_window_s=200)
    assert len(events(a, b, windows=narrow)) == 2


def test_a_middle_report_does_not_chain_its_neighbours() -> None:
    a, b, c = (held(p, launch(_at(m))) for p, m in (("KOR", 0), ("JPN", 5), ("USA", 10)))
    found = events(a, b, c)
    # JPN's report fits either; it joins one (the assignment), never both.
    assert sorted(len(e.reports) for e in found) == [1, 2]


def test_kinds_never_mix() -> None:
    a = held("KOR", launch(_at(0)))
    b = held("KOR", seismic(_at(0)))
    kinds = sorted(e.kind for e in events(a, b))
    assert kinds == [ObservationKind.MISSILE_LAUNCH, ObservationKind.NUCLEAR_TEST]


def test_a_second_seismic_event_outside_the_test_window_is_separate() -> None:
    a = held("USA", seismic(_at(0), magnitude=est(6.3)))
    b = held("USA", seismic(_at(5), magnitude=est(4.6)))
    c = held("KOR", seismic(_at(1.5), magnitude=est(4.6)))
    assert len(events(a, b)) == 2
    assert len(events(a, c)) == 1


def test_only_the_latest_version_counts() -> None:
    pid = "11111111-2222-4333-8444-555555555555"
    v1 = held("KOR", launch(_at(0), range_km=est(600)), pid=pid, version=1)
    v2 = held("KOR", launch(_at(0), range_km=est(800)), pid=pid, version=2)
    (event,) = events(v2, v1)
    assert [r.source.version for r in event.reports] == [2]
    assert event.fused[Quantity.RANGE_KM].value == 800
    assert [p.version for p in event.reports[0].history] == [1]


def test_a_recalled_latest_version_drops_the_product() -> None:
    pid = "11111111-2222-4333-8444-555555555555"
    v1 = held("KOR", launch(_at(0)), pid=pid, version=1)
    v2 = held("KOR", launch(_at(0)), pid=pid, version=2, recalled=True)
    other = held("JPN", launch(_at(1)))
    (event,) = events(v1, v2, other)
    assert event.parties == ("JPN",)
    assert events(v1, v2) == ()


def test_the_id_is_kept_when_a_later_report_with_an_earlier_time_joins() -> None:
    first = held("KOR", launch(_at(0)))
    (before,) = events(first)
    later_report = held(
        "JPN", launch(_at(-2)), created=first.product.created_at + timedelta(hours=1)
    )
    (after,) = events(first, later_report)
    assert after.id == before.id
    assert after.id.startswith("ev-")
    assert len(after.id) == 19


def test_sweep_compares_only_inside_the_window() -> None:
    # 2,000 launches 20 minutes apart: 2,000 events; quadratic work would still pass, but
    # the groups must come out in time order with their own members.
    many = [held("KOR", launch(_at(20 * i))) for i in range(2000)]
    groups = correlate(current_reports(many), WINDOWS)
    assert len(groups) == 2000
    assert [g.members[0].seconds for g in groups] == sorted(g.members[0].seconds for g in groups)


_minutes = st.lists(
    st.tuples(st.sampled_from(["KOR", "JPN", "USA"]), st.integers(0, 120), st.booleans()),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(_minutes, st.randoms(use_true_random=False))
def test_permuting_the_input_gives_the_same_events(
    spec: list[tuple[str, int, bool]], rnd: random.Random
) -> None:
    holdings = [
        held(p, launch(_at(m), launch_position=PYONGYANG if placed else None))
        if i % 3
        else held(p, seismic(_at(m)))
        for i, (p, m, placed) in enumerate(spec)
    ]
    shuffled = list(holdings)
    rnd.shuffle(shuffled)
    assert events(*holdings) == events(*shuffled)


def test_an_id_changed_by_a_report_that_arrives_late_stays_an_alias() -> None:
    # JPN reported first, but its product reaches this node after KOR's: the picture that held
    # KOR's alone named the event by KOR's report; with JPN's it is named by JPN's, and the
    # old id is kept as an alias, so a bookmark or a link in a message still leads to it.
    kor = held("KOR", launch(_at(0)))
    (alone,) = events(kor)
    jpn = held("JPN", launch(_at(-2)), created=kor.product.created_at - timedelta(minutes=5))
    (both,) = events(kor, jpn)
    assert both.id != alone.id
    assert alone.id in both.aliases
    assert both.id not in both.aliases
