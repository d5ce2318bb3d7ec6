"""Systematic differences: each nation's offset per quantity over past events."""

from __future__ import annotations

import pytest
from reported import ICBM, SUNAN, WONSAN, est, events, held, launch

from tisa.fusion import Quantity
from tisa.fusion.offsets import MIN_EVENTS, nation_offsets, residuals

DAYS = [f"2023-03-0{d}T08:24+09:00" for d in range(1, 6)]


def _event_of(day: str, kor_bias: float = 0.0) -> list:
    truth = 1000.0
    return [
        held(n, launch(day, missile_class=ICBM, launch_position=SUNAN, range_km=est(v, sigma=10)))
        for n, v in (("KOR", truth + kor_bias), ("JPN", truth), ("USA", truth + 2))
    ]


def test_a_biased_nation_shows_its_offset_and_the_others_none() -> None:
    held_ = [h for day in DAYS for h in _event_of(day, kor_bias=50)]
    found = {(o.originator, o.quantity): o for o in nation_offsets(events(*held_))}
    kor = found[("KOR", Quantity.RANGE_KM)]
    assert kor.events == len(DAYS)
    assert kor.offset == pytest.approx(49, abs=0.5)  # 50 above JPN, 48 above USA
    # Each residual's variance: 10² + (10/√2)² = 150; over five events, sqrt(150 / 5).
    assert kor.sigma == pytest.approx((150 / len(DAYS)) ** 0.5)
    assert kor.significant
    jpn = found[("JPN", Quantity.RANGE_KM)]
    assert jpn.offset < 0  # pulled by KOR's bias in the others' mean, still within reason
    assert abs(jpn.offset) < abs(kor.offset)


def test_unbiased_nations_have_no_significant_offset() -> None:
    held_ = [h for day in DAYS for h in _event_of(day)]
    assert not any(o.significant for o in nation_offsets(events(*held_)))


def test_too_few_events_give_no_offset() -> None:
    held_ = [h for day in DAYS[: MIN_EVENTS - 1] for h in _event_of(day, kor_bias=50)]
    assert nation_offsets(events(*held_)) == ()


def test_a_salvo_compares_nothing() -> None:
    # Two missiles: each nation's ranges may be of different missiles; nothing is compared.
    day = DAYS[0]
    salvo = [
        held(
            n,
            launch(day, launch_position=WONSAN, range_km=est(v, sigma=10), count=est(2)),
        )
        for n, v in (("KOR", 600.0), ("JPN", 400.0))
    ]
    (event,) = events(*salvo)
    assert event.count == 2
    assert residuals(event) == []
