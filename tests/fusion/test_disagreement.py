"""Disagreements: beyond k combined sigmas, bounds violated, both sources named."""

from __future__ import annotations

import math

import pytest
from reported import ABOUT, AT_LEAST, EXACT, UP_TO

from tisa.domain.model import Qualifier
from tisa.fusion import Figure, Quantity, Source, find_disagreements

K = 2.0
KOR = Source("aaaaaaaa-0000-4000-8000-000000000000", 2, "KOR")
JPN = Source("bbbbbbbb-0000-4000-8000-000000000000", 1, "JPN")
USA = Source("cccccccc-0000-4000-8000-000000000000", 3, "USA")


def fig(
    source: Source,
    value: float,
    sigma: float,
    qualifier: Qualifier = ABOUT,
    quantity: Quantity = Quantity.RANGE_KM,
) -> Figure:
    return Figure(quantity, source, 0, qualifier, value, sigma, None, f"{value:g} km")


def test_values_within_k_combined_sigmas_agree() -> None:
    combined = math.hypot(30, 40)  # 50
    assert find_disagreements([fig(KOR, 500, 30), fig(JPN, 500 + K * combined, 40)], K) == ()


def test_values_beyond_k_combined_sigmas_disagree_naming_both_sources() -> None:
    (d,) = find_disagreements([fig(JPN, 400, 40), fig(KOR, 570, 57)], K)
    assert d.quantity is Quantity.RANGE_KM
    assert d.gap == pytest.approx(170)
    assert d.unit == "km"
    assert d.sigmas == pytest.approx(170 / math.hypot(40, 57))
    assert d.sources == (KOR, JPN)
    assert "KOR (aaaaaaaa v2)" in d.text
    assert "JPN (bbbbbbbb v1)" in d.text
    assert "170 km apart" in d.text


def test_k_is_the_arrangements_choice() -> None:
    pair = [fig(JPN, 400, 40), fig(KOR, 570, 57)]
    assert find_disagreements(pair, 3.0) == ()


def test_a_value_below_a_lower_bound_disagrees() -> None:
    (d,) = find_disagreements([fig(JPN, 6000, 0, AT_LEAST), fig(USA, 5000, 200)], K)
    assert d.gap == 1000
    assert d.sigmas == pytest.approx(5)
    assert d.sources == (JPN, USA)


def test_a_value_above_an_upper_bound_disagrees_unless_within_its_sigma() -> None:
    assert find_disagreements([fig(JPN, 500, 0, UP_TO), fig(USA, 550, 100)], K) == ()
    (d,) = find_disagreements([fig(JPN, 500, 0, UP_TO), fig(USA, 800, 100)], K)
    assert d.gap == 300


def test_bounds_that_leave_no_value_disagree_without_sigmas() -> None:
    (d,) = find_disagreements([fig(JPN, 600, 0, AT_LEAST), fig(KOR, 500, 0, UP_TO)], K)
    assert d.gap == 100
    assert d.sigmas is None
    assert "leave no value" in d.text
    assert find_disagreements([fig(JPN, 500, 0, AT_LEAST), fig(KOR, 600, 0, UP_TO)], K) == ()
    assert find_disagreements([fig(JPN, 500, 0, AT_LEAST), fig(KOR, 900, 0, AT_LEAST)], K) == ()


def test_figures_of_one_product_are_not_compared() -> None:
    assert find_disagreements([fig(KOR, 100, 1), fig(KOR, 900, 1)], K) == ()


def test_places_compare_by_distance() -> None:
    def place(source: Source, lon: float) -> Figure:
        return Figure(Quantity.IMPACT_POSITION, source, 0, ABOUT, None, 10.0, 10.0, "", 41.0, lon)

    assert find_disagreements([place(KOR, 136.0), place(JPN, 136.2)], K) == ()
    (d,) = find_disagreements([place(KOR, 136.0), place(JPN, 137.0)], K)
    assert d.unit == "km"
    assert d.gap == pytest.approx(84, abs=1)


def test_counts_are_not_compared_and_order_does_not_matter() -> None:
    counts = [
        fig(KOR, 1, 0, EXACT, Quantity.COUNT),
        fig(JPN, 3, 0, EXACT, Quantity.COUNT),
    ]
    assert find_disagreements(counts, K) == ()
    many = [fig(KOR, 400, 10), fig(JPN, 500, 10), fig(USA, 600, 10)]
    assert find_disagreements(many, K) == find_disagreements(list(reversed(many)), K)
    assert len(find_disagreements(many, K)) == 3


def test_a_zero_sigma_gap_has_no_finite_sigmas() -> None:
    (d,) = find_disagreements([fig(KOR, 400, 0), fig(JPN, 401, 0)], K)
    assert d.sigmas is None
