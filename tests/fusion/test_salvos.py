"""Salvos: counts from per-missile and "N missiles" reports, each missile's own figures, and
mixed types (issue 16)."""

from __future__ import annotations

from datetime import datetime, timedelta

from reported import EXACT, IRBM, SRBM, est, events, held, launch

from tisa.domain.model import MissileClass, Position
from tisa.fusion import Quantity

T = "2024-01-14T14:55:00+09:00"
SINPO = Position(40.03, 128.18, 10.0, "Sinpo")


def _at(seconds: float) -> str:
    return (datetime.fromisoformat(T) + timedelta(seconds=seconds)).isoformat()


def _missile(originator: str, seconds: float, **fields: object) -> object:
    return launch(_at(seconds), launch_position=SINPO, **fields)


def test_three_missiles_one_product_each_count_three() -> None:
    kor = [held("KOR", launch(_at(s), launch_position=SINPO)) for s in (0, 120, 240)]
    (event,) = events(*kor)
    assert event.count == 3
    assert len(event.missiles) == 3
    assert event.label.startswith("3 × Missile launch")


def test_per_missile_products_and_a_count_of_two_give_three() -> None:
    kor = [
        held("KOR", launch(_at(s), missile_class=SRBM, launch_position=SINPO))
        for s in (0, 120, 240)
    ]
    usa = held("USA", launch(_at(5), missile_class=SRBM, count=est(2, EXACT)))
    (event,) = events(*kor, usa)
    assert event.count == 3
    assert event.fused[Quantity.COUNT].text == "3"
    # USA's "2" speaks for the salvo; its time is its first missile's.
    first = event.missiles[0]
    assert {r.source.originator for r in first.reports} == {"KOR", "USA"}


def test_missiles_times_are_never_fused_as_one_measurement() -> None:
    kor = held(
        "KOR",
        *(launch(_at(s), missile_class=SRBM, launch_position=SINPO) for s in (0, 150, 300)),
    )
    jpn = held(
        "JPN",
        *(launch(_at(s + 10), missile_class=SRBM, launch_position=SINPO) for s in (0, 150, 300)),
    )
    (event,) = events(kor, jpn)
    assert event.count == 3
    assert not [d for d in event.disagreements if d.quantity is Quantity.TIME]
    times = [m.fused[Quantity.TIME].value for m in event.missiles]
    assert times == sorted(times)
    assert all(len(m.reports) == 2 for m in event.missiles)
    # The event's time is its first missile's.
    assert event.fused[Quantity.TIME] == event.missiles[0].fused[Quantity.TIME]


def test_a_mixed_salvo_keeps_per_type_figures() -> None:
    kor = held(
        "KOR",
        launch(_at(0), missile_class=SRBM, launch_position=SINPO, range_km=est(400)),
        launch(_at(120), missile_class=IRBM, launch_position=SINPO, range_km=est(1000)),
    )
    jpn = held(
        "JPN",
        launch(_at(20), missile_class=SRBM, launch_position=SINPO, range_km=est(420)),
        launch(_at(140), missile_class=IRBM, launch_position=SINPO, range_km=est(980)),
    )
    (event,) = events(kor, jpn)
    assert event.count == 2
    assert Quantity.RANGE_KM not in event.fused  # never 400 and 1,000 averaged
    by_class = {m.missile_class: m for m in event.missiles}
    assert set(by_class) == {MissileClass.SRBM, MissileClass.IRBM}
    srbm = by_class[MissileClass.SRBM].fused[Quantity.RANGE_KM].value
    irbm = by_class[MissileClass.IRBM].fused[Quantity.RANGE_KM].value
    assert srbm is not None
    assert irbm is not None
    assert 400 < srbm < 420
    assert 980 < irbm < 1000
    assert not event.disagreements
