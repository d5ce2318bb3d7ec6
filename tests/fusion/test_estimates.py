"""Fused estimates: inverse-variance weighting, default sigmas, bounds, places, times."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reported import (
    ABOUT,
    AT_LEAST,
    EXACT,
    MORE_THAN,
    UP_TO,
    at,
    est,
    events,
    held,
    launch,
    seismic,
)

from tisa.domain.model import ObservationKind, Position, Qualifier
from tisa.fusion import Figure, Quantity, Source, default_sigma, fuse
from tisa.fusion.estimates import inverse_variance, truncated

T = "2017-09-03T12:29+09:00"


def fig(value: float, qualifier: Qualifier = ABOUT, sigma: float = 1.0, n: int = 0) -> Figure:
    source = Source(f"{n:08d}-0000-4000-8000-000000000000", 1, ("KOR", "JPN", "USA")[n % 3])
    return Figure(Quantity.APOGEE_KM, source, 0, qualifier, value, sigma, sigma, f"{value}")


def test_inverse_variance_weights_by_precision() -> None:
    mean, sigma = inverse_variance([(10.0, 1.0), (20.0, 2.0)])
    assert mean == pytest.approx((10 / 1 + 20 / 4) / (1 + 1 / 4))
    assert sigma == pytest.approx(math.sqrt(1 / (1 + 1 / 4)))


def test_a_zero_sigma_is_exact_and_dominates() -> None:
    assert inverse_variance([(10.0, 0.0), (20.0, 2.0)]) == (10.0, 0.0)


@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(0.01, 1e3)), min_size=1, max_size=8))
def test_the_fused_value_lies_within_the_values_and_sigma_below_each(
    pairs: list[tuple[float, float]],
) -> None:
    mean, sigma = inverse_variance(pairs)
    values = [v for v, _ in pairs]
    assert min(values) - 1e-6 <= mean <= max(values) + 1e-6
    assert sigma <= min(s for _, s in pairs) + 1e-12


@pytest.mark.parametrize(
    ("quantity", "value", "exact", "about"),
    [
        (Quantity.TIME, 0, 10, 60),  # a launch time; its wording's interval comes on top
        (Quantity.LAUNCH_POSITION, 0, 5, 25),
        (Quantity.APOGEE_KM, 6000, 180, 600),
        (Quantity.RANGE_KM, 1000, 30, 100),
        (Quantity.RANGE_KM, 5, 1, 1),  # a floor of 1 km
        (Quantity.FLIGHT_TIME_MIN, 69, 0.5, 2),
        (Quantity.MAGNITUDE, 6.1, 0.1, 0.2),
        (Quantity.YIELD_KT, 100, 20, 40),
    ],
)
def test_default_sigmas_differ_for_exact_and_about(
    quantity: Quantity, value: float, exact: float, about: float
) -> None:
    assert default_sigma(quantity, EXACT, value) == pytest.approx(exact)
    assert default_sigma(quantity, ABOUT, value) == pytest.approx(about)


def test_seismic_times_default_to_seconds_not_minutes() -> None:
    test = ObservationKind.NUCLEAR_TEST
    assert default_sigma(Quantity.TIME, EXACT, kind=test) == 2
    assert default_sigma(Quantity.TIME, ABOUT, kind=test) == 10


def test_a_stated_sigma_overrides_the_default() -> None:
    kor = held("KOR", seismic(T, magnitude=est(5.7, ABOUT, 0.05)))
    (event,) = events(kor)
    (magnitude,) = [f for f in event.figures[0] if f.quantity is Quantity.MAGNITUDE]
    assert magnitude.sigma == 0.05
    assert magnitude.stated_sigma == 0.05
    assert magnitude.text == "about M5.7 ±0.05"


def test_bounds_are_never_averaged() -> None:
    fused = fuse([fig(6000, MORE_THAN, 600), fig(6100, MORE_THAN, 610, 1)])
    assert fused is not None
    assert (fused.value, fused.lower, fused.upper, fused.method) == (6100, 6100, None, "bound only")
    assert fused.text == "more than 6,100 km"


def test_two_bounds_make_an_interval() -> None:
    fused = fuse([fig(500, AT_LEAST), fig(700, UP_TO, n=1)])
    assert fused is not None
    assert (fused.lower, fused.upper, fused.value) == (500, 700, 600)
    assert fused.sigma == pytest.approx(200 / math.sqrt(12))
    assert fused.text == "between 500 km and 700 km"


def test_bounds_truncate_the_fused_distribution() -> None:
    fused = fuse([fig(1000, ABOUT, 100), fig(1050, AT_LEAST, n=1)])
    assert fused is not None
    assert fused.value is not None
    assert fused.sigma is not None
    assert fused.value > 1050
    assert fused.sigma < 100
    assert fused.lower == 1050
    assert "truncated by bounds" in fused.method


def test_contradicting_bounds_do_not_truncate() -> None:
    fused = fuse([fig(1000, ABOUT, 100), fig(1200, AT_LEAST, n=1), fig(900, UP_TO, n=2)])
    assert fused is not None
    assert fused.value == 1000
    assert (fused.lower, fused.upper) == (None, None)
    assert "bounds contradict" in fused.method


def test_truncated_far_in_a_tail_sits_on_the_bound() -> None:
    assert truncated(0.0, 1.0, 100.0, None) == (100.0, 0.0)
    assert truncated(0.0, 1.0, None, -100.0) == (-100.0, 0.0)
    mean, sigma = truncated(0.0, 1.0, 0.0, None)  # half-normal
    assert mean == pytest.approx(math.sqrt(2 / math.pi))
    assert sigma == pytest.approx(math.sqrt(1 - 2 / math.pi))


def test_places_fuse_in_the_plane() -> None:
    a = held("KOR", launch(T, launch_position=Position(39.0, 125.2, 10.0)))
    b = held("JPN", launch(T, launch_position=Position(39.0, 125.4, 10.0)))
    (event,) = events(a, b)
    place = event.fused[Quantity.LAUNCH_POSITION]
    assert place.value is None
    assert place.lat == pytest.approx(39.0, abs=0.01)
    assert place.lon == pytest.approx(125.3, abs=0.01)
    assert place.sigma == pytest.approx(10 / math.sqrt(2))
    assert {s.originator for s in place.sources} == {"KOR", "JPN"}


def test_times_are_normalised_to_utc_and_keep_the_original() -> None:
    pyongyang = held("KOR", seismic("2017-09-03T12:00+08:30", magnitude=est(5.7, EXACT)))
    hawaii = held("USA", seismic("2017-09-02T17:30-10:00", time_qualifier=EXACT))
    (event,) = events(pyongyang, hawaii)
    texts = sorted(f.text for fs in event.figures for f in fs if f.quantity is Quantity.TIME)
    assert texts == [
        "2017-09-03T03:30:00Z (reported as 2017-09-02T17:30-10:00)",
        "about 2017-09-03T03:30:00Z (reported as 2017-09-03T12:00+08:30)",
    ]
    # "12:00" names the minute [03:30:00, 03:31:00); its middle is the value.
    assert event.time == at("2017-09-03T03:30:30Z").utc


def test_fused_sigma_of_the_time_is_the_inverse_variance_bound() -> None:
    a = held("KOR", seismic("2017-09-03T12:29+09:00"))
    b = held("JPN", seismic("2017-09-03T12:31+09:00"))
    (event,) = events(a, b)
    fused = event.fused[Quantity.TIME]
    # Each: 10 s (a seismic time, about) with the minute's 60/sqrt(12) s: 20 s.
    each = math.sqrt(10**2 + 60**2 / 12)
    bound = each / math.sqrt(2)
    assert fused.value == pytest.approx(at("2017-09-03T12:30:30+09:00").utc.timestamp())
    # Two minutes apart is 4.2 of their combined sigmas: flagged, not absorbed, and the fused
    # sigma widened by the Birge ratio (the bound would claim ± 14.1 s the reports belie).
    birge = math.sqrt(2 * (60 / each) ** 2)
    assert fused.sigma == pytest.approx(bound * birge)
    assert fused.text.startswith("2017-09-03T03:30:30Z ± 60 s")
    assert "widened" in fused.method
    (gap,) = event.disagreements
    assert gap.quantity is Quantity.TIME
    assert gap.sigmas == pytest.approx(120 / (each * math.sqrt(2)))


def test_mixed_quantities_are_refused() -> None:
    other = Figure(Quantity.RANGE_KM, Source("x", 1, "KOR"), 0, ABOUT, 1.0, 1.0, None, "1")
    with pytest.raises(ValueError, match="one quantity"):
        fuse([fig(1), other])
    assert fuse([]) is None


def test_a_value_far_from_agreeing_others_is_left_out_and_named() -> None:
    # 216 "km" that was nautical miles, against two reports of about 400 km.
    fused = fuse([fig(400, sigma=20, n=0), fig(405, sigma=20, n=1), fig(216, sigma=20, n=2)])
    assert fused is not None
    assert fused.value == pytest.approx(402.5)
    assert fused.sigma == pytest.approx(20 / math.sqrt(2))
    (out,) = fused.left_out
    assert out.source.originator == "USA"
    assert out.sigmas is not None
    assert out.sigmas > 3
    assert "USA" in out.reason
    assert "216" in out.reason
    assert "1 left out as outliers" in fused.method


def test_values_within_their_uncertainty_are_all_kept_at_the_bound() -> None:
    fused = fuse([fig(400, sigma=20, n=0), fig(430, sigma=20, n=1), fig(380, sigma=20, n=2)])
    assert fused is not None
    assert fused.left_out == ()
    assert fused.sigma == pytest.approx(20 / math.sqrt(3))
    assert "widened" not in fused.method


def test_two_values_far_apart_stay_and_widen_the_uncertainty() -> None:
    # Nothing tells which of two is wrong: both stay, and the fused sigma says they disagree.
    fused = fuse([fig(400, sigma=20, n=0), fig(216, sigma=20, n=1)])
    assert fused is not None
    assert fused.left_out == ()
    assert fused.value == pytest.approx(308)
    chi2 = 2 * (92 / 20) ** 2
    assert fused.sigma == pytest.approx(20 / math.sqrt(2) * math.sqrt(chi2))
    assert "widened" in fused.method


def test_no_value_is_blamed_when_the_others_disagree_too() -> None:
    fused = fuse([fig(100, sigma=1, n=0), fig(200, sigma=1, n=1), fig(300, sigma=1, n=2)])
    assert fused is not None
    assert fused.left_out == ()
    assert "widened" in fused.method


@given(
    st.lists(st.floats(-1e4, 1e4), min_size=3, max_size=8),
    st.floats(0.5, 50),
)
def test_outliers_leave_at_least_two_and_what_stays_agrees(
    values: list[float], sigma: float
) -> None:
    fused = fuse([fig(v, sigma=sigma, n=i) for i, v in enumerate(values)])
    assert fused is not None
    assert len(values) - len(fused.left_out) >= 2
    for out in fused.left_out:
        assert out.sigmas is None or out.sigmas > 3


def test_a_figure_in_nautical_miles_fuses_as_kilometres_and_reads_as_written() -> None:
    from tisa.domain.model import Estimate, Unit

    km = held("KOR", launch(T, range_km=est(400, sigma=20)))
    nmi = held("JPN", launch(T, range_km=Estimate(216, ABOUT, 10, Unit.NMI)))
    (event,) = events(km, nmi)
    fused = event.fused[Quantity.RANGE_KM]
    assert fused.value == pytest.approx(400.0, abs=0.1)
    assert event.disagreements == ()  # 216 nmi is 400 km, not 216 km
    jpn = next(
        f
        for figures in event.figures
        for f in figures
        if f.source.originator == "JPN" and f.quantity is Quantity.RANGE_KM
    )
    assert jpn.original == "about 216 nmi ±10"
    assert jpn.value == pytest.approx(400.032)
